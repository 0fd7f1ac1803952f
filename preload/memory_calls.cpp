// The program's own memory-lock and core-dump calls, kept off the pool.
// libsodium's sodium_munlock (on a heap buffer: munlock, then
// madvise(MADV_DODUMP)) or a program's munlockall would otherwise unlock
// pool pages, other secrets on them included, and put them back into core
// dumps. These calls reach the kernel for everything outside the pool.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pool/region.hpp"

#define SECBITS_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

/// Calls `apply(begin, length)` for the parts of [address, address + length)
/// outside the pool's range, and returns the first failure's -1 (errno set),
/// or 0.
template <class Apply>
int outside_the_pool(const void* address, std::size_t length, Apply apply) noexcept {
  const auto begin = reinterpret_cast<std::uintptr_t>(address);
  const std::uintptr_t pool_begin = secbits::pool::g_region.base.load(std::memory_order_acquire);
  const std::uintptr_t pool_end = pool_begin + secbits::pool::g_region.total_bytes.load(std::memory_order_relaxed);
  std::uintptr_t end;
  if (pool_begin == 0 || __builtin_add_overflow(begin, length, &end) || end <= pool_begin || begin >= pool_end) {
    return apply(begin, length);
  }
  if (begin < pool_begin && apply(begin, pool_begin - begin) != 0) return -1;
  if (end > pool_end && apply(pool_end, end - pool_end) != 0) return -1;
  return 0;
}

}  // namespace

SECBITS_EXPORT int munlock(const void* address, size_t length) noexcept {
  return outside_the_pool(address, length, [](std::uintptr_t begin, std::size_t bytes) {
    return static_cast<int>(::syscall(SYS_munlock, begin, bytes));
  });
}

SECBITS_EXPORT int munlockall() noexcept {
  const secbits::os::Status status = secbits::pool::unlock_all_but_the_pool();
  if (status.ok()) return 0;
  errno = status.error;
  return -1;
}

// Only MADV_DODUMP is kept off the pool; every other advice is the
// program's to give, on its own memory as on the pool's.
SECBITS_EXPORT int madvise(void* address, size_t length, int advice) noexcept {
  // An address off a page boundary is the kernel's EINVAL, whole, as without us.
  const bool aligned = (reinterpret_cast<std::uintptr_t>(address) & (secbits::pool::kPageSize - 1)) == 0;
  if (advice != MADV_DODUMP || !aligned) return static_cast<int>(::syscall(SYS_madvise, address, length, advice));
  return outside_the_pool(address, length, [](std::uintptr_t begin, std::size_t bytes) {
    return static_cast<int>(::syscall(SYS_madvise, begin, bytes, MADV_DODUMP));
  });
}
