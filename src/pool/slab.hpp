#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "pool/layout.hpp"

namespace secbits::pool {

struct ThreadHeap;

/// Which of its heap's lists a slab is on.
enum class SlabList : std::uint8_t { None, Current, Available, Full };

/// The bookkeeping of one slab. It lives in an array of its own, outside the
/// secret pages: freed secret memory never holds an allocator pointer, and an
/// overflow out of a block cannot reach it.
///
/// A block is free when its bit is set in free_bits (the owning heap's view)
/// or in remote_bits (freed by another thread, not yet collected). Only the
/// owner writes free_bits and the plain fields; other threads only set
/// remote_bits and has_remote, so freeing from another thread takes no lock.
/// Slabs lie side by side in one table: each starts a cache line, so that
/// one slab's remote frees do not share a line with its neighbour's header.
struct alignas(64) Slab {
  std::byte* base = nullptr;       // first byte of the slab's first page
  std::uint32_t block_size = 0;
  std::uint32_t block_count = 0;
  std::uint32_t reciprocal = 0;    // ceil(2^32 / block_size): offset / size as a multiply
  std::uint32_t live = 0;          // blocks handed out and not yet freed back to the owner
  std::uint32_t hint = 0;          // no free bit in the words below this one
  std::uint32_t open_pages = 0;    // bit i: unit i is readable and writable
  std::uint32_t pending_close = 0; // bit i: unit i holds no live block and waits to be closed
  std::uint8_t class_index = 0;
  std::uint8_t unit_shift = kSmallUnitShift;  // the "pages" of the masks and counts: 4 or 8 KiB units
  std::uint8_t units = kSlabUnits;            // units committed: those the class's blocks reach
  SlabList list = SlabList::None;
  bool committed = false;
  bool locked = false;
  bool in_pending_list = false;
  bool zero_size = false;          // blocks of malloc(0): never committed, every access faults
  Slab* prev = nullptr;            // neighbours on the heap's list for this class
  Slab* next = nullptr;
  Slab* next_pending = nullptr;    // the heap's list of slabs with pages to close
  std::uint16_t page_live[kSlabUnits] = {};  // live blocks on each unit
  std::atomic<ThreadHeap*> owner{nullptr};
  std::atomic<bool> has_remote{false};
  std::atomic<std::uint64_t> free_bits[kBitmapWords] = {};
  std::atomic<std::uint64_t> remote_bits[kBitmapWords] = {};
  // Freed by the owner, waiting in its heap's quarantine (hardening level 2
  // and up) or cache (levels 0 and 1): written by the owner only, read by any
  // thread's free to tell a double free.
  std::atomic<std::uint64_t> quarantine_bits[kBitmapWords] = {};

  std::uint32_t bitmap_words() const noexcept { return (block_count + 63) / 64; }
  std::uint32_t all_units() const noexcept { return (std::uint32_t{1} << units) - 1; }
  std::size_t committed_bytes() const noexcept { return std::size_t{units} << unit_shift; }

  /// The index of the block that starts exactly at `offset`, or UINT32_MAX.
  /// Exact for offsets below 2^32: for offset = k * size the product is
  /// k * 2^32 + k * (reciprocal * size - 2^32), and the second term is below
  /// k * size; any other offset fails the multiply check.
  std::uint32_t block_at(std::size_t offset) const noexcept {
    const auto index = static_cast<std::uint32_t>((static_cast<std::uint64_t>(offset) * reciprocal) >> 32);
    if (index >= block_count || static_cast<std::size_t>(index) * block_size != offset) return UINT32_MAX;
    return index;
  }
};

/// The shape of a slab for blocks of `block_size`: the unit, the units its
/// blocks reach (the rest of the slot is left in the reservation), and how
/// many blocks. Medium blocks always take 8 KiB units. So do the other
/// classes (but the 16-byte one, whose blocks would outnumber the bitmap) in
/// a heap that `outgrew` page-unit slabs (it has two full ones of the class):
/// a big heap then has half as many slabs, each one mapping and its guard
/// another, which a forked child copies and the kernel's page tables walk; a
/// small program locks no more than before, and a middling one keeps the
/// finer pages' memory.
struct SlabShape {
  unsigned unit_shift;
  unsigned units;
  std::uint32_t block_count;
};
constexpr SlabShape slab_shape(std::size_t block_size, bool outgrew) noexcept {
  const bool wide = block_size > kMaxSmallUnitBlock || (outgrew && block_size >= 32);
  const unsigned shift = wide ? kMediumUnitShift : kSmallUnitShift;
  const auto blocks = static_cast<std::uint32_t>((kSlabUnits << shift) / block_size);
  const std::size_t unit = std::size_t{1} << shift;
  return {shift, static_cast<unsigned>((blocks * block_size + unit - 1) / unit), blocks};
}
static_assert(slab_shape(16, true).block_count <= kMaxBlocksPerSlab && slab_shape(32, true).block_count <= kMaxBlocksPerSlab);

/// Bits first..last of the units a block at `offset` of the slab touches.
inline std::uint32_t units_of(const Slab& slab, std::size_t offset) noexcept {
  const auto first = static_cast<std::uint32_t>(offset >> slab.unit_shift);
  const auto last = static_cast<std::uint32_t>((offset + slab.block_size - 1) >> slab.unit_shift);
  return (std::uint32_t{2} << last) - (std::uint32_t{1} << first);
}

/// Bits set in `value`. std::popcount compiles to a call into libgcc unless
/// the build may assume the POPCNT instruction, which x86-64's baseline lacks;
/// this is a handful of inline operations instead.
constexpr std::uint32_t count_bits(std::uint32_t value) noexcept {
  value = value - ((value >> 1) & 0x55555555u);
  value = (value & 0x33333333u) + ((value >> 2) & 0x33333333u);
  value = (value + (value >> 4)) & 0x0f0f0f0fu;
  return (value * 0x01010101u) >> 24;
}

/// How many mappings the kernel keeps for the slab if its open units are
/// `open`: one per run of units in the same state.
inline std::uint32_t mapping_runs(const Slab& slab, std::uint32_t open) noexcept {
  const std::uint32_t changes = (open ^ (open >> 1)) & (slab.all_units() >> 1);
  return count_bits(changes) + 1;
}

/// The pages of the units in `units`: the heap's batch is counted in pages.
inline std::uint32_t pages_in(const Slab& slab, std::uint32_t units) noexcept {
  return count_bits(units) << (slab.unit_shift - kPageShift);
}

}  // namespace secbits::pool
