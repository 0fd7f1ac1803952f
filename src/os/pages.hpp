#pragma once

#include <cstddef>

#include <secbits/protection.hpp>

#include "os/status.hpp"

// The only place in secbits that maps, unmaps, protects or advises pages.
namespace secbits::os {

std::size_t page_size() noexcept;

/// The PROT_* bits of `protection`.
int protection_flags(Protection protection) noexcept;

/// Rounds `bytes` up to whole pages; false if that overflows.
bool round_to_pages(std::size_t bytes, std::size_t* rounded) noexcept;

/// Maps `usable_bytes` (a multiple of the page size) of private anonymous
/// read-write memory between two PROT_NONE guard pages, and returns the first
/// usable byte. The guards and the usable range are distinct mappings, so the
/// range's own flags never spread to the guards.
Status map_guarded(std::size_t usable_bytes, std::byte** usable) noexcept;

/// Unmaps a range returned by map_guarded together with its guards. Callers
/// wipe the range first and leave it readable: the release observer (tests
/// only) reads it just before it goes away.
Status unmap_guarded(std::byte* usable, std::size_t usable_bytes) noexcept;

/// Reserves address space only: PROT_NONE, MAP_NORESERVE, no memory behind
/// it, starting at a multiple of `alignment` (a power of two, at least a
/// page).
Status reserve(std::size_t bytes, std::size_t alignment, std::byte** base) noexcept;
/// Unmaps what reserve() or map_bookkeeping() mapped, when setting up the
/// pool fails half-way.
Status unmap(void* base, std::size_t bytes) noexcept;

/// Maps zero-filled read-write memory for the allocator's own bookkeeping;
/// MAP_NORESERVE, so only the pages it touches cost anything, and left out
/// of core dumps.
Status map_bookkeeping(std::size_t bytes, void** base) noexcept;
/// Gives committed pages back to a reservation made by reserve(): their
/// contents and locks are dropped and they become PROT_NONE, MAP_NORESERVE
/// and MADV_DONTDUMP again, with the same flags as the reservation around
/// them, so that the kernel merges them back into one mapping. (mprotect
/// alone would leave them charged to the commit limit, a flag that keeps the
/// mapping apart forever.)
Status return_to_reservation(void* pages, std::size_t bytes) noexcept;

Status protect(void* pages, std::size_t bytes, Protection protection) noexcept;

/// mseal (Linux 6.10+): from now on the range cannot be unmapped, remapped or
/// given another protection, by anyone in this process. ENOSYS on older
/// kernels.
Status seal(void* pages, std::size_t bytes) noexcept;

/// secure_wipe of the pages of [pages, pages + bytes) that are resident
/// (mincore): a page never touched holds nothing, and writing zeros to it
/// would fault it in (for secret memory, ~50 µs a page to take it out of the
/// kernel's direct map). Wipes everything if mincore fails. True if every
/// page was resident (or mincore failed): the whole range is wiped.
bool wipe_resident(void* pages, std::size_t bytes) noexcept;
/// MADV_DONTDUMP: leave the range out of core dumps (smaps flag `dd`).
Status exclude_from_dump(void* pages, std::size_t bytes) noexcept;
/// MADV_WIPEONFORK: a forked child sees the range zero-filled (smaps `wf`).
Status wipe_on_fork(void* pages, std::size_t bytes) noexcept;

namespace testing {

/// Called with the usable range of every map_guarded region just before it is
/// unmapped, so that a test can look at the bytes that were left there.
using ReleaseObserver = void (*)(const std::byte* usable, std::size_t usable_bytes);
void set_release_observer(ReleaseObserver observer) noexcept;

}  // namespace testing

}  // namespace secbits::os
