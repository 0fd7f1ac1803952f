#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "pool/size_classes.hpp"

// Hardening levels: which checks of the program's own memory bugs the pool
// makes. A level is fixed when the pool starts (canaries change which class a
// size lands in), so the fast paths read it as a constant.
//
//   0  none beyond the pool's own invariants (invalid and double frees abort)
//   1  malloc(0) returns a block that faults on any access; a sized free
//      whose size does not fit the block aborts
//   2  + a freed block is quarantined (16 per thread) before it can be
//      handed out again, and is checked to be still zero when it is
//   3  + an 8-byte canary ends every small block, checked on free and
//      realloc; a free block is picked at random from the slab's word
namespace secbits::pool {

inline constexpr unsigned kMaxHardening = 3;
// The strongest level whose measured cost fits the pool's speed targets
// (bench/README.md, "Hardening levels: what each costs"): level 2's checks
// cost 1.13x level 0 on whole programs, past the whole-process target.
inline constexpr unsigned kDefaultHardening = 1;
inline constexpr std::size_t kCanaryBytes = 8;
inline constexpr std::uint32_t kQuarantineSlots = 16;

// Hidden in the declarations too (as every flag the fast paths read), so
// that they address it directly, not through the GOT.
/// The level the pool runs at once started; the level asked for before.
[[gnu::visibility("hidden")]] extern constinit std::atomic<unsigned> g_hardening;
/// Level 2 and up: allocation and local free take the hardened paths.
[[gnu::visibility("hidden")]] extern constinit std::atomic<bool> g_hardened;
/// Level 3: every small block ends in a canary.
[[gnu::visibility("hidden")]] extern constinit std::atomic<bool> g_canaries;

/// Asks for a level before the pool exists: 0, or EINVAL (no such level) or
/// EBUSY (the pool exists: its blocks were laid out for another level).
/// Defined with the pool's start-up (region.cpp).
int request_hardening(unsigned level) noexcept;

/// Fixes the level's derived switches and draws the canary secret; called
/// once, as the pool starts.
void start_hardening() noexcept;

/// Bytes of a small block a program may use: its class size less the canary.
inline std::size_t usable_bytes(std::uint32_t block_size) noexcept {
  return g_canaries.load(std::memory_order_relaxed) ? block_size - kCanaryBytes : block_size;
}

/// Once every block has been wiped by a purge, canaries read zero: no longer
/// an overflow.
void note_blocks_purged() noexcept;
bool blocks_purged() noexcept;

/// What a request of `size` bytes needs of a small block: the canary too.
inline std::size_t request_bytes(std::size_t size) noexcept {
  return g_canaries.load(std::memory_order_relaxed) ? size + kCanaryBytes : size;
}

/// The canary of the block whose last 8 bytes are at `tail`: the process's
/// secret mixed with the address, every byte odd so that a stray zero byte
/// (a string's terminator) never matches.
std::uint64_t canary_at(const void* tail) noexcept;

/// Where the canary secret lives (its own sealed page, once level 3 started).
const void* canary_secret_location() noexcept;

/// True if `bytes` bytes at `block` (16-byte aligned, a multiple of 16) are
/// all zero. Inline: every allocation at level 2 calls it, mostly on blocks
/// of a few lanes.
inline bool is_zero(const void* block, std::size_t bytes) noexcept {
  // Blocks are 16-byte aligned and whole multiples of 16 bytes: aligned
  // 16-byte loads that fold into the OR instructions, four chains at a time
  // so that they do not wait on one another.
  using Lanes = std::uint64_t __attribute__((vector_size(16), may_alias));
  const auto* lanes = static_cast<const Lanes*>(__builtin_assume_aligned(block, 16));
  const std::size_t count = bytes / sizeof(Lanes);
  Lanes first{};
  Lanes second{};
  Lanes third{};
  Lanes fourth{};
  std::size_t lane = 0;
  for (; lane + 4 <= count; lane += 4) {
    first |= lanes[lane];
    second |= lanes[lane + 1];
    third |= lanes[lane + 2];
    fourth |= lanes[lane + 3];
  }
  for (; lane < count; ++lane) first |= lanes[lane];
  first |= second | third | fourth;
  return (first[0] | first[1]) == 0;
}

/// One line naming the block, and abort.
[[noreturn, gnu::cold]] void heap_overflow(const void* block, std::size_t usable) noexcept;
[[noreturn, gnu::cold]] void written_after_free(const void* block, std::size_t usable) noexcept;
[[noreturn, gnu::cold]] void wrong_size_freed(const void* block, std::size_t usable, std::size_t given) noexcept;

}  // namespace secbits::pool
