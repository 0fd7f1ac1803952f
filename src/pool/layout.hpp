#pragma once

#include <cstddef>
#include <cstdint>

// Where everything lives in the pool's reserved address range:
//
//   [ small zone: slots of 256 KiB ........ ][ large zone: page-run spans ... ]
//
// A slot is one PROT_NONE guard page followed by a slab, so that every slab is
// fenced by guards on both sides. A slab is 31 units: pages (124 KiB), or
// 8 KiB units (248 KiB) for the medium classes of 32 to 64 KiB and for a
// heap's third and later slabs of a class (slab.hpp, slab_shape). It commits
// only the units its blocks reach; the rest of the slot stays in the
// reservation and is its trailing guard. A large block sits at
// the start of a span of 2^k pages, of which it commits only what it needs:
// the rest of the span stays PROT_NONE and is its trailing guard.
namespace secbits::pool {

inline constexpr std::size_t kPageShift = 12;
inline constexpr std::size_t kPageSize = std::size_t{1} << kPageShift;

inline constexpr std::size_t kSlotShift = 18;
inline constexpr std::size_t kSlotSize = std::size_t{1} << kSlotShift;
/// A slab's units are the bits of its 32-bit page masks; a unit is the
/// granule in which its pages open, close and count live blocks.
inline constexpr std::size_t kSlabUnits = 31;
inline constexpr unsigned kSmallUnitShift = kPageShift;
/// The unit of medium slabs, and of a heap's later slabs of smaller classes.
/// Medium blocks (above kMaxSmallUnitBlock) are multiples of 8 KiB: a medium
/// block never shares a unit.
inline constexpr unsigned kMediumUnitShift = kPageShift + 1;
inline constexpr std::size_t kMaxSmallUnitBlock = 28672;
inline constexpr std::size_t kMaxBlocksPerSlab = (kSlabUnits << kSmallUnitShift) / 16;
inline constexpr std::size_t kBitmapWords = (kMaxBlocksPerSlab + 63) / 64;

/// Pages that may wait, open and zeroed, for reuse before a batch closes them
/// under PageProtection::Cached: 4 MiB per thread. A program that frees and
/// allocates again a working set of that size (a thousand 4 KiB blocks)
/// makes no syscall for it; 1 MiB made one mprotect per 20 blocks of 1 KiB.
inline constexpr std::uint32_t kPendingPageLimit = 1024;
/// What a batch leaves waiting: it closes only down to 2 MiB, so that a
/// working set that passes the batch a little closes and reopens about its
/// excess rather than all of it, and a batch still closes at least 2 MiB.
inline constexpr std::uint32_t kPendingPagesAfterBatch = kPendingPageLimit / 2;

/// Large spans are at least 8 pages (a granule) and aligned to their own
/// size in the address space; the zone's records are per granule from the
/// zone's start, so the zone must start on a granule.
inline constexpr std::size_t kMinSpanShift = 15;

/// Where the reservation starts: a 2 MiB boundary, asked of the kernel
/// rather than assumed (6.1 gives a page boundary only). It makes the small
/// zone slot-aligned and the large zone granule-aligned whatever its size.
inline constexpr std::size_t kReservationAlignment = std::size_t{2} << 20;

/// Address space asked for at start-up, halved until the kernel agrees
/// (RLIMIT_AS, overcommit policy); a quarter goes to small blocks.
inline constexpr std::size_t kPreferredReservation = std::size_t{64} << 30;
inline constexpr std::size_t kMinimumReservation = std::size_t{1} << 30;

static_assert(kSlabUnits < 32, "a slab's units are bits of a 32-bit mask, with room for the mask of all of them");
static_assert(kPageSize + (kSlabUnits << kMediumUnitShift) <= kSlotSize, "a medium slab and its guard fit a slot");
static_assert(kSlotSize <= (std::size_t{1} << 32), "Slab::block_at is exact for offsets below 2^32");
static_assert(kReservationAlignment % kSlotSize == 0 && kReservationAlignment % (std::size_t{1} << kMinSpanShift) == 0);
static_assert(kMinimumReservation / 4 % kReservationAlignment == 0,
              "the large zone starts a quarter into the reservation, on a granule");

}  // namespace secbits::pool
