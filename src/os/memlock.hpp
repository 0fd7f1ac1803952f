#pragma once

#include <cerrno>
#include <cstddef>

#include "os/status.hpp"

namespace secbits::os {

/// mlock: keep the pages in RAM, never in swap. Counts against RLIMIT_MEMLOCK
/// unless the process has CAP_IPC_LOCK.
Status lock(void* pages, std::size_t bytes) noexcept;
Status unlock(void* pages, std::size_t bytes) noexcept;
/// munlockall: every lock of the process, MCL_FUTURE included.
Status unlock_all() noexcept;
/// mlock2(MLOCK_ONFAULT): locks each page when it is first touched rather
/// than now. A forked child uses it: the pages it still shares with its
/// parent are kept in RAM by the parent's lock, and locking them at once
/// would copy every one of them. Where the kernel lacks it, plain mlock.
Status lock_on_fault(void* pages, std::size_t bytes) noexcept;

/// The soft RLIMIT_MEMLOCK in bytes; SIZE_MAX when unlimited.
std::size_t memlock_limit() noexcept;

/// Tells stderr, once per process, that memory the kernel refused to lock is
/// being used anyway, `because` (e.g. "lock policy is degrade"), and why the
/// kernel refused. Allocation free: safe on any allocator path.
inline constexpr const char* kBecauseDegrade = "lock policy is degrade";
void warn_unlocked_once(Status status, std::size_t bytes, const char* because = kBecauseDegrade) noexcept;

/// True when a refused mlock means "out of lock budget" (rather than a bug):
/// EPERM with a zero limit, ENOMEM or EAGAIN over it.
constexpr bool is_lock_budget_error(int error) noexcept {
  return error == EPERM || error == ENOMEM || error == EAGAIN;
}

}  // namespace secbits::os
