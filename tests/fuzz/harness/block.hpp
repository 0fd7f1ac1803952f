#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include <secbits/secbits.h>

#include "harness/check.hpp"
#include "harness/pattern.hpp"
#include "pool/layout.hpp"

// A block a target holds: all its usable bytes carry the pattern of its seed,
// so that any change to them, a lost realloc copy or a block handed out
// twice shows up when it is next checked.
namespace secbits::fuzz {

struct Block {
  void* pointer = nullptr;
  std::size_t usable = 0;
  std::uint64_t seed = 0;

  bool empty() const noexcept { return pointer == nullptr; }
};

/// secbits.h: "Blocks are at least 16-byte aligned".
inline constexpr std::size_t kMinimumAlignment = 16;

inline bool is_aligned(const void* pointer, std::size_t alignment) noexcept {
  return reinterpret_cast<std::uintptr_t>(pointer) % alignment == 0;
}

/// What every block the pool hands out promises: it is the pool's, aligned
/// to at least 16 bytes (or `alignment`), at least `size` usable bytes, all
/// of them zero.
inline void check_fresh(const void* pointer, std::size_t usable, std::size_t size, std::size_t alignment,
                        const char* operation) {
  SECBITS_FUZZ_CHECK(secbits_owns(pointer) == 1, "%s gave %p, outside the pool", operation, pointer);
  const std::size_t promised = std::max(alignment, kMinimumAlignment);
  SECBITS_FUZZ_CHECK(is_aligned(pointer, promised), "%s gave %p, not aligned to %zu", operation, pointer, promised);
  SECBITS_FUZZ_CHECK(usable >= size, "%s of %zu bytes: usable size %zu", operation, size, usable);
  const std::size_t nonzero = first_nonzero(pointer, usable);
  SECBITS_FUZZ_CHECK(nonzero == usable, "%s of %zu bytes at %p: byte %zu of %zu is not zero", operation, size, pointer,
                     nonzero, usable);
}

/// Writes the pattern of `seed` over all `usable` bytes of the block.
inline Block fill(void* pointer, std::size_t usable, std::uint64_t seed) noexcept {
  fill_pattern(pointer, usable, seed);
  return Block{pointer, usable, seed};
}

/// The first `length` bytes of the block still carry its pattern.
inline void check_content(const Block& block, std::size_t length, const char* when) {
  const std::size_t mismatch = pattern_mismatch(block.pointer, length, block.seed);
  SECBITS_FUZZ_CHECK(mismatch == length, "%s: block %p (usable %zu), byte %zu of %zu changed", when, block.pointer,
                     block.usable, mismatch, length);
}

}  // namespace secbits::fuzz
