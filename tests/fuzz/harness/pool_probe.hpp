#pragma once

#include <cstddef>
#include <cstdint>

#include <secbits/secbits.h>

#include "harness/check.hpp"
#include "pool/region.hpp"
#include "support/probe.hpp"

// What the targets check about the pool as a whole, from outside the blocks
// they hold.
namespace secbits::fuzz {

/// A block with a page run of its own (above the largest size class, or
/// aligned beyond a page): what secbits_stats counts in large_blocks.
inline bool is_large_block(const void* block) noexcept {
  const std::uintptr_t offset =
      reinterpret_cast<std::uintptr_t>(block) - pool::g_region.base.load(std::memory_order_relaxed);
  return offset >= pool::g_region.small_bytes.load(std::memory_order_relaxed);
}

/// The statistics of a pool no other thread is using, against the blocks the
/// caller holds: the sum of their usable sizes and how many are large.
inline void check_stats(std::size_t bytes_in_use, std::size_t large_blocks) {
  struct secbits_stats stats {};
  ::secbits_stats(&stats);
  SECBITS_FUZZ_CHECK(stats.bytes_in_use == bytes_in_use, "bytes_in_use %zu, blocks held %zu", stats.bytes_in_use,
                     bytes_in_use);
  SECBITS_FUZZ_CHECK(stats.large_blocks == large_blocks, "large_blocks %zu, held %zu", stats.large_blocks,
                     large_blocks);
  SECBITS_FUZZ_CHECK(stats.peak_bytes_in_use >= stats.bytes_in_use, "peak %zu below bytes_in_use %zu",
                     stats.peak_bytes_in_use, stats.bytes_in_use);
  SECBITS_FUZZ_CHECK(stats.bytes_committed == stats.bytes_locked + stats.bytes_unlocked,
                     "committed %zu != locked %zu + unlocked %zu", stats.bytes_committed, stats.bytes_locked,
                     stats.bytes_unlocked);
  SECBITS_FUZZ_CHECK(stats.bytes_committed >= stats.bytes_in_use, "committed %zu below bytes_in_use %zu",
                     stats.bytes_committed, stats.bytes_in_use);
}

/// The wipe guarantee, seen through the kernel: no byte of a block just freed
/// can be read back unless it is zero (its pages may also be closed).
inline void check_wiped(const void* block, std::size_t size) {
  const test::MemoryState state = test::observe_memory(block, size);
  SECBITS_FUZZ_CHECK(state.wiped_or_inaccessible(), "%zu of %zu bytes at %p readable and not zero after free",
                     state.nonzero_bytes, size, block);
}

}  // namespace secbits::fuzz
