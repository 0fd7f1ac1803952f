#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <secbits/protection.hpp>

#include "pool/layout.hpp"
#include "os/status.hpp"
#include "pool/slab.hpp"

// The pool's reserved address range, the slab bookkeeping array, and the
// commit/decommit of pages inside the range.
namespace secbits::pool {

struct Region {
  std::atomic<std::uintptr_t> base{0};
  std::atomic<std::uintptr_t> small_bytes{0};  // the small zone: [base, base + small_bytes)
  std::atomic<std::uintptr_t> total_bytes{0};
  Slab* slabs = nullptr;                       // one per slot of the small zone
  std::size_t slot_count = 0;
};

// Hidden in the declaration too: every free and owns() addresses it
// directly, not through the GOT.
[[gnu::visibility("hidden")]] extern constinit Region g_region;

/// Where `pointer` lies from the start of the range (wrapping below it).
inline std::uintptr_t region_offset(const void* pointer) noexcept {
  return reinterpret_cast<std::uintptr_t>(pointer) - g_region.base.load(std::memory_order_relaxed);
}

/// Whether an offset from region_offset lies in the range.
inline bool owns_offset(std::uintptr_t offset) noexcept {
  return offset < g_region.total_bytes.load(std::memory_order_relaxed);
}

/// One range compare; touches no memory. False before the pool exists.
inline bool owns(const void* pointer) noexcept { return owns_offset(region_offset(pointer)); }

/// Reserves the range on first use; thread-safe, idempotent. False if the
/// kernel gave no address space (errno is ENOMEM then).
bool ensure_initialised() noexcept;

/// Asks for a page source before the pool exists: 0, or the errno saying
/// why not (EBUSY: the pool exists; secret memory refused by the kernel).
int request_page_source(PageSource source) noexcept;
/// The source in use once the pool exists, else the one asked for.
PageSource current_page_source() noexcept;

/// A committed slab of `shape` no heap owns, all its blocks free and zero;
/// null when neither the cache nor the address space has one, or the lock is
/// refused.
Slab* take_slab(SlabShape shape) noexcept;

/// A slot's bookkeeping, its pages left in the reservation (PROT_NONE, not
/// committed) for good; null when the small zone has no slot left.
Slab* take_unbacked_slab() noexcept;

/// An empty slab a heap no longer wants.
void give_back_slab(Slab* slab) noexcept;

/// Closes the calling thread's waiting pages and gives back its empty slabs
/// among them (pool.cpp): called when a lock or a mapping is refused, from
/// paths that hold none of the pool's locks and no half-updated heap list.
void give_back_waiting_slabs() noexcept;

/// Opens the pages in `mask` (read-write). False if mprotect failed.
bool open_pages(Slab& slab, std::uint32_t mask) noexcept;
/// Closes the pages in `mask` (PROT_NONE), run by run, skipping runs that
/// would take the pool over its mapping budget (those stay open, zeroed).
void close_pages(Slab& slab, std::uint32_t mask) noexcept;

/// Locks every committed, locked range again after the program's
/// munlockall (the source says how: anonymous pages on fault, secret pages
/// need nothing). A refusal is counted and said once on stderr.
void relock_pool(const char* because) noexcept;

/// In a forked child: every committed range made the child's own by the
/// source (relocked anonymous pages, or fresh zero-filled secret pages),
/// with closed pages closed again.
void renew_pool_in_child() noexcept;

/// The program's munlockall, for the interposer: unlocks everything, then
/// relocks the pool. Ranges another thread is committing or handing over
/// meanwhile are not yet visible to relock_pool: each such path reads
/// lock_epoch() before it locks and calls keep_locked() once the range is
/// visible, and relocks it itself if a munlockall may have missed it.
os::Status unlock_all_but_the_pool() noexcept;
std::uint64_t lock_epoch() noexcept;

/// Purge's part: zeroes every open page of every committed slab, live blocks
/// and all. Async-signal-safe: no lock, no allocation.
void wipe_open_slab_pages() noexcept;
void keep_locked(std::uint64_t epoch_before, void* pages, std::size_t bytes) noexcept;

}  // namespace secbits::pool
