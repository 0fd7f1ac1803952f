#include "os/memlock.hpp"

#include <cerrno>
#include <cstdint>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace secbits::os {

// Straight to the kernel: AddressSanitizer replaces mlock and munlock with
// functions that do nothing and report success, which would make every lock
// guarantee untestable under the sanitizer builds.
Status lock(void* pages, std::size_t bytes) noexcept {
  return {::syscall(SYS_mlock, pages, bytes) == 0 ? 0 : errno, "mlock"};
}

Status unlock(void* pages, std::size_t bytes) noexcept {
  return {::syscall(SYS_munlock, pages, bytes) == 0 ? 0 : errno, "munlock"};
}

std::size_t memlock_limit() noexcept {
  rlimit limit{};
  if (::getrlimit(RLIMIT_MEMLOCK, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
  return static_cast<std::size_t>(limit.rlim_cur);
}

}  // namespace secbits::os
