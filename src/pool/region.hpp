#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

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
  std::size_t mapping_budget = 0;              // pool mappings allowed before flips are skipped
};

extern constinit Region g_region;

/// One range compare; touches no memory. False before the pool exists.
inline bool owns(const void* pointer) noexcept {
  const std::uintptr_t offset = reinterpret_cast<std::uintptr_t>(pointer) - g_region.base.load(std::memory_order_relaxed);
  return offset < g_region.total_bytes.load(std::memory_order_relaxed);
}

/// Reserves the range on first use; thread-safe, idempotent. False if the
/// kernel gave no address space (errno is ENOMEM then).
bool ensure_initialised() noexcept;

/// Makes `bytes` at `pages` usable: read-write, and locked as the lock policy
/// says. A refused lock first gives back the locked memory the pool only
/// caches (freed spans, empty slabs) and tries again. False (pages left
/// PROT_NONE) when the policy is strict and the kernel still refuses the
/// lock, or when mprotect fails.
bool commit(std::byte* pages, std::size_t bytes, bool* locked) noexcept;

/// Returns wiped pages to the reservation: unlocked, discarded, PROT_NONE.
void decommit(std::byte* pages, std::size_t bytes, bool locked) noexcept;

/// A committed slab no heap owns, all its blocks free and zero; null when
/// neither the cache nor the address space has one, or the lock is refused.
Slab* take_slab() noexcept;

/// An empty slab a heap no longer wants.
void give_back_slab(Slab* slab) noexcept;

/// Opens the pages in `mask` (read-write). False if mprotect failed.
bool open_pages(Slab& slab, std::uint32_t mask) noexcept;
/// Closes the pages in `mask` (PROT_NONE), run by run, skipping runs that
/// would take the pool over its mapping budget (those stay open, zeroed).
void close_pages(Slab& slab, std::uint32_t mask) noexcept;

/// Counts `count` more pool mappings against the budget (half of
/// vm.max_map_count: the rest is the program's). At the budget, memory kept
/// only for reuse is given back first; false with errno ENOMEM if that was
/// not enough, so that the allocation fails rather than the program's next
/// mmap or thread.
bool claim_mappings(std::int64_t count) noexcept;
void release_mappings(std::int64_t count) noexcept;

/// Locks every committed, locked range again, on fault: a forked child does
/// not inherit its parent's memory locks (and the pages it only reads stay
/// shared with the parent, locked by it, uncopied), and a program's own
/// munlockall drops the pool's. A refusal is counted and said once on
/// stderr, `because` naming who unlocked.
void relock_pool(const char* because) noexcept;
/// One range of relock_pool.
void relock_range(void* pages, std::size_t bytes, const char* because) noexcept;

/// The program's munlockall, for the interposer: unlocks everything, then
/// relocks the pool. Ranges another thread is committing or handing over
/// meanwhile are not yet visible to relock_pool: each such path reads
/// lock_epoch() before it locks and calls keep_locked() once the range is
/// visible, and relocks it itself if a munlockall may have missed it.
os::Status unlock_all_but_the_pool() noexcept;
std::uint64_t lock_epoch() noexcept;
void keep_locked(std::uint64_t epoch_before, void* pages, std::size_t bytes) noexcept;

}  // namespace secbits::pool
