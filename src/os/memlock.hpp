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

/// True when a refused mlock means "out of lock budget" (rather than a bug):
/// EPERM with a zero limit, ENOMEM or EAGAIN over it.
constexpr bool is_lock_budget_error(int error) noexcept {
  return error == EPERM || error == ENOMEM || error == EAGAIN;
}

}  // namespace secbits::os
