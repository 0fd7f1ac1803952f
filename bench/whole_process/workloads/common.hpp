// Shared by the whole-process workloads: a deterministic random generator, a
// block stamp that proves a block's contents survived, argument parsing and
// the checksum line. Nothing of secbits: these are plain programs, measured
// as they are under glibc, jemalloc and secbits-run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace wp {

/// splitmix64: fast, statistically fine, and the same on every run.
struct Rng {
  std::uint64_t state;
  explicit Rng(std::uint64_t seed) : state(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [lo, hi].
  std::size_t range(std::size_t lo, std::size_t hi) { return lo + next() % (hi - lo + 1); }
  /// Log-uniform in [lo, hi]: as many blocks of 16-32 B as of 16-32 KiB.
  std::size_t log_range(std::size_t lo, std::size_t hi) {
    const double u = static_cast<double>(next() >> 11) * 0x1.0p-53;
    const double x = static_cast<double>(lo) * __builtin_pow(static_cast<double>(hi) / static_cast<double>(lo), u);
    std::size_t size = static_cast<std::size_t>(x);
    return size < lo ? lo : size > hi ? hi : size;
  }
};

inline std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

/// Writes `tag` at both ends of a block of `size` bytes (size >= 1): what a
/// program does to the memory it asks for, cheaply, and a check that nobody
/// else wrote there. Blocks of 16 bytes or more get the full tag at each end
/// (the two copies must not overlap); smaller ones are filled with its low byte.
inline void stamp(void* block, std::size_t size, std::uint64_t tag) {
  auto* bytes = static_cast<unsigned char*>(block);
  if (size >= 16) {
    std::memcpy(bytes, &tag, 8);
    std::memcpy(bytes + size - 8, &tag, 8);
  } else {
    std::memset(bytes, static_cast<int>(tag & 0xff), size);
  }
}

/// Reads a stamp back: the value a checksum adds up. Aborts when the block
/// was overwritten, which no allocator may do to a live block.
inline std::uint64_t unstamp(const void* block, std::size_t size, std::uint64_t tag) {
  const auto* bytes = static_cast<const unsigned char*>(block);
  if (size >= 16) {
    std::uint64_t head, tail;
    std::memcpy(&head, bytes, 8);
    std::memcpy(&tail, bytes + size - 8, 8);
    if (head != tag || tail != tag) {
      std::fprintf(stderr, "corrupted block %p (size %zu)\n", block, size);
      std::abort();
    }
    return mix(head ^ size);
  }
  for (std::size_t i = 0; i < size; ++i) {
    if (bytes[i] != static_cast<unsigned char>(tag & 0xff)) {
      std::fprintf(stderr, "corrupted block %p (size %zu)\n", block, size);
      std::abort();
    }
  }
  return mix(tag ^ size);
}

/// The optional first argument scales the work (default 1.0).
inline double scale(int argc, char** argv) {
  if (argc < 2) return 1.0;
  const double s = std::strtod(argv[1], nullptr);
  if (!(s > 0)) {
    std::fprintf(stderr, "usage: %s [scale > 0]\n", argv[0]);
    std::exit(2);
  }
  return s;
}

inline void print_checksum(const char* name, std::uint64_t checksum) {
  std::printf("%s checksum %016llx\n", name, static_cast<unsigned long long>(checksum));
}

inline void* checked(void* block) {
  if (block == nullptr) {
    std::fprintf(stderr, "out of memory\n");
    std::abort();
  }
  return block;
}

}  // namespace wp
