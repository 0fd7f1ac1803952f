#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "pool/layout.hpp"

// Slab blocks come in 44 size classes: every multiple of 16 up to 128, then
// four classes per doubling up to 64 KiB. Every power of two is a class, so a
// block of a power-of-two class is aligned to its size (up to a page) when
// blocks are laid out from a page boundary: aligned allocation needs no path
// of its own. The five medium classes above 28 KiB take slabs of 8 KiB units
// (layout.hpp), 3 to 7 blocks a slab: a block of that size on the large path
// would cost two kernel mappings (block and guard) of its own, and a forked
// child copies every mapping.
namespace secbits::pool {

inline constexpr std::size_t kClassCount = 44;
inline constexpr std::size_t kMaxSmallSize = 65536;

inline constexpr std::array<std::uint32_t, kClassCount> kClassSizes = [] {
  std::array<std::uint32_t, kClassCount> sizes{};
  std::size_t n = 0;
  for (std::uint32_t size = 16; size <= 128; size += 16) sizes[n++] = size;
  for (std::uint32_t base = 128; n < kClassCount; base *= 2) {
    for (std::uint32_t step = 1; step <= 4 && n < kClassCount; ++step) sizes[n++] = base + step * (base / 4);
  }
  return sizes;
}();
static_assert(kClassSizes.back() == kMaxSmallSize);
static_assert(kClassSizes[38] == kMaxSmallUnitBlock);
static_assert([] {
  for (std::uint32_t size : kClassSizes) {
    if (size > kMaxSmallUnitBlock && size % (std::size_t{1} << kMediumUnitShift) != 0) return false;
  }
  return true;
}(), "a medium block covers whole units");

/// The smallest class that holds `size` bytes (size <= kMaxSmallSize; 0 maps
/// to the first class).
constexpr std::size_t class_of(std::size_t size) noexcept {
  if (size <= 128) return size == 0 ? 0 : (size - 1) >> 4;
  const std::size_t top = std::size_t{63} - static_cast<std::size_t>(std::countl_zero(size - 1));
  const std::size_t step_in_group = ((size - 1) >> (top - 2)) & 3;
  return 8 + (top - 7) * 4 + step_in_group;
}

/// The smallest class that holds `size` bytes and whose blocks are all
/// aligned to `alignment` (a power of two up to a page); kClassCount if none.
constexpr std::size_t class_of(std::size_t size, std::size_t alignment) noexcept {
  if (size > kMaxSmallSize) return kClassCount;
  std::size_t c = class_of(size);
  while (c < kClassCount && kClassSizes[c] % alignment != 0) ++c;
  return c;
}

}  // namespace secbits::pool
