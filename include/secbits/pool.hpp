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
/// The hardening level, 0 to 3 (default 2): which of the program's own
/// memory bugs the pool catches (README, "Hardening levels"). Before the
/// pool's first allocation only; throws secbits::Error: EINVAL above 3, EBUSY
/// once the pool runs at another level.
SECBITS_API void set_hardening(unsigned level);
SECBITS_API unsigned hardening() noexcept;
/// secbits_collect(): collects blocks other threads freed into the calling
/// thread's slabs, closes its empty pages, returns its empty slabs, and does
/// the same for the heaps of threads that have exited.
SECBITS_API void collect() noexcept;

}  // namespace secbits
