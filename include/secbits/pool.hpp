#pragma once

#include <cstddef>

#include <secbits/export.hpp>
#include <secbits/protection.hpp>
#include <secbits/secbits.h>

// The secure pool as seen from C++: raw allocation, statistics and policies.
// Typed front ends (secure_new, secure_allocator, the pmr resource) are built
// on these.
namespace secbits {

// `struct` because the C function secbits_stats hides the type's plain name.
using PoolStats = struct ::secbits_stats;

/// `size` bytes aligned to `alignment` (a power of two, any size, including
/// above the page size), zeroed. Throws std::bad_alloc when the pool cannot
/// serve it (out of memory, or lock refused under LockPolicy::Strict).
SECBITS_API void* allocate(std::size_t size, std::size_t alignment = alignof(std::max_align_t));
/// Wipes and frees a block from allocate(); aborts on a pointer the pool does
/// not own, a double free or an interior pointer. nullptr is ignored.
SECBITS_API void deallocate(void* pointer) noexcept;

SECBITS_API PoolStats stats() noexcept;
/// The pool's lock policy; LockPolicy::Strict unless changed.
SECBITS_API void set_lock_policy(LockPolicy policy) noexcept;
SECBITS_API void set_page_protection(PageProtection protection) noexcept;
/// Where the pool takes its pages; before its first allocation only. Throws
/// secbits::Error: EBUSY once the pool exists, and for PageSource::Secret the
/// kernel's refusal of memfd_secret (ENOSYS where it lacks it or has it off).
SECBITS_API void set_page_source(PageSource source);
/// The source the pool uses (Anonymous or Secret once it exists; before, the
/// one asked for, perhaps Auto).
SECBITS_API PageSource page_source() noexcept;
/// The hardening level, 0 to 3 (default 1): which of the program's own
/// memory bugs the pool catches (README, "Hardening levels"). Before the
/// pool's first allocation only; throws secbits::Error: EINVAL above 3, EBUSY
/// once the pool runs at another level.
SECBITS_API void set_hardening(unsigned level);
SECBITS_API unsigned hardening() noexcept;
/// Wipes every live block of the pool and every SecMem (and so SecBytes) now,
/// leaving them allocated and SecMem regions with their protection: for a
/// program that is about to give up (a fatal error of its own, a watchdog).
/// Async-signal-safe. Other threads still using their blocks see zeros; the
/// canary checks of hardening level 3 stop, since every canary is zero too.
SECBITS_API void purge() noexcept;
/// Which signals purge before they kill the process (PurgeSignals; default
/// Fatal, installed when the pool or the first SecMem starts). Any time: a
/// program that installs handlers of its own for these signals after that
/// calls it again, so that ours runs first and chains theirs.
SECBITS_API void set_purge_signals(PurgeSignals signals) noexcept;
SECBITS_API PurgeSignals purge_signals() noexcept;
/// How many of the pool's own mappings (its tables, the canary secret's
/// page) are sealed with mseal, so that nothing in the process can unmap or
/// reprotect them; -1 where the kernel has no mseal (before Linux 6.10).
SECBITS_API long sealed_mappings() noexcept;
/// secbits_collect(): collects blocks other threads freed into the calling
/// thread's slabs, closes its empty pages, returns its empty slabs, and does
/// the same for the heaps of threads that have exited.
SECBITS_API void collect() noexcept;

}  // namespace secbits
