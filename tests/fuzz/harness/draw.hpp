#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#include "harness/input.hpp"
#include "pool/layout.hpp"
#include "pool/size_classes.hpp"

// How the targets turn input bytes into sizes and alignments. Each value is
// a "kind" byte, then the bytes that kind needs; make_corpus.py writes seeds
// in this format.
//
// Two bands only: requests the pool should serve (up to a few MiB, alignment
// up to 1 MiB), and requests it can never serve (at least the whole
// reservation). Anything in between is legal but would commit and lock
// gigabytes, or spend gigabytes of the reservation on one span's alignment,
// and then later, ordinary requests would fail for want of address space: a
// budget question, not a bug.
namespace secbits::fuzz {

inline constexpr std::size_t kMaxOrdinarySize = std::size_t{4} << 20;
inline constexpr std::size_t kMaxOrdinaryAlignment = std::size_t{1} << 20;
/// No block this large can fit in the reservation.
inline constexpr std::size_t kImpossibleSize = pool::kPreferredReservation;

/// 0 to 4 MiB, mostly small:
///   kind % 8 in 0-2: [kind, n]           n % 129: the 16-byte classes
///                3-4: [kind, u16]        up to the largest class + 16: every small class
///                  5: [kind, which, d]   a class size or page multiple, + d % 3 - 1
///                  6: [kind, u32]        the largest class + up to 256 KiB: large blocks
///                  7: [kind, u32]        up to 4 MiB
inline std::size_t draw_size(Input& in) noexcept {
  switch (in.byte() % 8) {
    case 0:
    case 1:
    case 2:
      return in.byte() % 129;
    case 3:
    case 4:
      return in.u16() % (pool::kMaxSmallSize + 17);
    case 5: {
      const unsigned which = in.byte() % (pool::kClassCount + 64);
      const std::size_t edge =
          which < pool::kClassCount ? pool::kClassSizes[which] : (which - pool::kClassCount + 1) * pool::kPageSize;
      return edge + in.byte() % 3 - 1;
    }
    case 6:
      return pool::kMaxSmallSize + in.u32() % (std::size_t{256} << 10);
    default:
      return in.u32() % (kMaxOrdinarySize + 1);
  }
}

/// A power of two from 1 B to 1 MiB: [log2 % 21].
inline std::size_t draw_alignment(Input& in) noexcept { return std::size_t{1} << (in.byte() % 21); }

/// Sizes for the C rules' edge cases: kind % 4 in 0-1: draw_size; 2: one of
/// the edges below; 3: [kind, u64] anything from kImpossibleSize up.
inline std::size_t draw_hostile_size(Input& in) noexcept {
  static constexpr std::size_t kEdges[] = {0,
                                           1,
                                           SIZE_MAX,
                                           SIZE_MAX - 1,
                                           SIZE_MAX - pool::kPageSize + 1,
                                           SIZE_MAX - pool::kPageSize,
                                           SIZE_MAX / 2,
                                           SIZE_MAX / 2 + 1,
                                           kImpossibleSize,
                                           kImpossibleSize + 1,
                                           std::size_t{1} << 40,
                                           std::size_t{1} << 48,
                                           pool::kMaxSmallSize,
                                           pool::kMaxSmallSize + 1,
                                           pool::kPageSize - 1,
                                           pool::kPageSize};
  const unsigned kind = in.byte() % 4;
  if (kind < 2) return draw_size(in);
  if (kind == 2) return kEdges[in.byte() % std::size(kEdges)];
  return kImpossibleSize + in.u64() % (SIZE_MAX - kImpossibleSize + 1);
}

/// The next power of two, saturating at 2^63: what glibc's memalign uses.
inline std::size_t effective_alignment(std::size_t alignment) noexcept {
  return alignment > (std::size_t{1} << 63) ? std::size_t{1} << 63 : std::bit_ceil(alignment);
}

/// Alignments that are affordable, in the sense above: ordinary ones, or
/// more than the reservation holds.
inline bool affordable_alignment(std::size_t alignment) noexcept {
  const std::size_t effective = effective_alignment(alignment);
  return effective <= kMaxOrdinaryAlignment || effective >= kImpossibleSize;
}

/// Alignments for the C rules' edge cases: kind % 4 in 0-1: draw_alignment;
/// 2: one of the edges below; 3: [kind, u64] any value, an unaffordable one
/// (see above) brought down to an ordinary one.
inline std::size_t draw_hostile_alignment(Input& in) noexcept {
  static constexpr std::size_t kEdges[] = {0,
                                           1,
                                           2,
                                           3,
                                           4,
                                           8,
                                           12,
                                           24,
                                           48,
                                           96,
                                           4095,
                                           4097,
                                           3 << 12,
                                           std::size_t{3} << 18,
                                           kImpossibleSize,
                                           std::size_t{1} << 62,
                                           std::size_t{1} << 63,
                                           (std::size_t{1} << 63) + 1,
                                           SIZE_MAX / 2,
                                           SIZE_MAX};
  const unsigned kind = in.byte() % 4;
  if (kind < 2) return draw_alignment(in);
  if (kind == 2) return kEdges[in.byte() % std::size(kEdges)];
  const std::size_t alignment = in.u64();
  return affordable_alignment(alignment) ? alignment : alignment % (kMaxOrdinaryAlignment + 1);
}

/// Sizes that are affordable, in the sense above (a few ordinary blocks' worth).
inline bool affordable_size(std::size_t size) noexcept {
  return size <= 4 * kMaxOrdinarySize || size >= kImpossibleSize;
}

}  // namespace secbits::fuzz
