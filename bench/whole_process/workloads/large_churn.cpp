// large_churn: large blocks made, used and replaced (I/O buffers, decoded
// images, per-request arenas, column chunks): two threads, each with kLive
// blocks of 64 KiB-4 MiB (log-uniform) live, replace a random one per step.
// A new block is written in full one time in two (memset) and otherwise one
// byte per page, as a buffer that is filled sparsely or only in part would be;
// so every page of every block is faulted in or reused. These sizes sit on
// either side of glibc's mmap threshold, which glibc raises as it frees
// mmapped blocks, and above most allocators' largest size class: the large
// path (map, unmap, cache, commit) is what is measured.
//
// A thread's blocks follow from its own seed; the checksum is the sum of
// the threads'.
#include <vector>

#include "common.hpp"
#include "threads.hpp"

namespace {

constexpr int kThreads = 2;
constexpr std::size_t kLive = 16;
constexpr std::size_t kPage = 4096;

struct Block {
  unsigned char* data = nullptr;
  std::size_t size = 0;
  std::uint64_t tag = 0;
  bool full = false;  // written in full, not one byte per page
};

// What a block's written bytes hold (never 0, so that a block the allocator
// zeroed or lost does not pass for a written one).
unsigned char fill_value(std::uint64_t tag) { return static_cast<unsigned char>(tag >> 56) | 1; }

Block make(wp::Rng& rng) {
  Block b;
  b.size = rng.log_range(64 << 10, 4 << 20);
  b.tag = rng.next();
  b.full = rng.next() & 1;
  b.data = static_cast<unsigned char*>(wp::checked(std::malloc(b.size)));
  if (b.full) {
    std::memset(b.data, fill_value(b.tag), b.size);
  } else {
    for (std::size_t i = 0; i < b.size; i += kPage) b.data[i] = fill_value(b.tag);
  }
  wp::stamp(b.data, b.size, b.tag);
  return b;
}

std::uint64_t release(const Block& b) {
  std::uint64_t sum = wp::unstamp(b.data, b.size, b.tag);
  // One written byte away from the stamps: the middle page's first byte, or
  // for a block written in full, its middle byte.
  const std::size_t probe = b.full ? b.size / 2 : (b.size / 2) & ~(kPage - 1);
  if (b.data[probe] != fill_value(b.tag)) {
    std::fprintf(stderr, "block %p lost byte %zu\n", static_cast<void*>(b.data), probe);
    std::abort();
  }
  std::free(b.data);
  return wp::mix(sum ^ probe);
}

std::uint64_t run(int me, std::size_t steps) {
  wp::Rng rng(0x1a7e + me);
  std::vector<Block> blocks(kLive);
  for (Block& b : blocks) b = make(rng);
  std::uint64_t sum = 0;
  for (std::size_t step = 0; step < steps; ++step) {
    Block& b = blocks[rng.next() % kLive];
    sum += release(b);
    b = make(rng);
  }
  for (const Block& b : blocks) sum += release(b);
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  const auto steps = static_cast<std::size_t>(20'000 * wp::scale(argc, argv));
  const std::uint64_t sum = wp::sum_over_threads(kThreads, [&](int me) { return run(me, steps); });
  wp::print_checksum("large_churn", sum);
}
