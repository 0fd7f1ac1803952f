#pragma once

#include <cerrno>
#include <cstddef>

#include "os/status.hpp"

namespace secbits::os {

/// mlock: keep the pages in RAM, never in swap. Counts against RLIMIT_MEMLOCK
/// unless the process has CAP_IPC_LOCK.
Status lock(void* pages, std::size_t bytes) noexcept;
Status unlock(void* pages, std::size_t bytes) noexcept;

/// The soft RLIMIT_MEMLOCK in bytes; SIZE_MAX when unlimited.
std::size_t memlock_limit() noexcept;

/// Tells stderr, once per process, that memory the kernel refused to lock is
/// being used anyway because the lock policy is degrade, and why. Allocation
/// free: safe on any allocator path.
void warn_unlocked_once(Status status, std::size_t bytes) noexcept;

/// True when a refused mlock means "out of lock budget" (rather than a bug):
/// EPERM with a zero limit, ENOMEM or EAGAIN over it.
constexpr bool is_lock_budget_error(int error) noexcept {
  return error == EPERM || error == ENOMEM || error == EAGAIN;
}

}  // namespace secbits::os
