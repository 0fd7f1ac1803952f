#include "os/memlock.hpp"

#include "os/diagnostics.hpp"
#include "os/injection.hpp"

#include <atomic>
#include <cerrno>
#include <string.h>
#include <cstdint>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace secbits::os {

namespace {

constinit std::atomic<bool> warned_unlocked{false};
constinit std::atomic<bool> lock_on_fault_missing{false};

}  // namespace

// Straight to the kernel: AddressSanitizer replaces mlock and munlock with
// functions that do nothing and report success, which would make every lock
// guarantee untestable under the sanitizer builds.
Status lock(void* pages, std::size_t bytes) noexcept {
  if (const int error = injected_error(Operation::Lock)) return {error, "mlock"};
  return {::syscall(SYS_mlock, pages, bytes) == 0 ? 0 : errno, "mlock"};
}

// Named "mlock" in reports: it is the same lock and the same budget. A
// kernel before 4.4, or valgrind, has no mlock2 (ENOSYS), and some refuse
// its flag (EINVAL): then every range is locked, and faulted in, at once.
Status lock_on_fault(void* pages, std::size_t bytes) noexcept {
  if (!lock_on_fault_missing.load(std::memory_order_relaxed)) {
    int error = injected_error(Operation::LockOnFault);
    if (error == 0) error = ::syscall(SYS_mlock2, pages, bytes, MLOCK_ONFAULT) == 0 ? 0 : errno;
    if (error != ENOSYS && error != EINVAL) return {error, "mlock"};
    lock_on_fault_missing.store(true, std::memory_order_relaxed);
  }
  return lock(pages, bytes);
}

Status unlock_all() noexcept { return {::syscall(SYS_munlockall) == 0 ? 0 : errno, "munlockall"}; }

Status unlock(void* pages, std::size_t bytes) noexcept {
  return {::syscall(SYS_munlock, pages, bytes) == 0 ? 0 : errno, "munlock"};
}

std::size_t memlock_limit() noexcept {
  rlimit limit{};
  if (::getrlimit(RLIMIT_MEMLOCK, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
  return static_cast<std::size_t>(limit.rlim_cur);
}

void warn_unlocked_once(Status status, std::size_t bytes, const char* because) noexcept {
  if (warned_unlocked.exchange(true, std::memory_order_relaxed)) return;
  char size_text[21];
  char limit_text[21];
  char reason[128];
  const std::size_t limit = memlock_limit();
  const char* parts[] = {"secbits: ",
                         status.operation,
                         " of ",
                         format_decimal(bytes, size_text),
                         " bytes failed (",
                         ::strerror_r(status.error, reason, sizeof reason),
                         "; RLIMIT_MEMLOCK is ",
                         limit == SIZE_MAX ? "unlimited" : format_decimal(limit, limit_text),
                         " bytes); ",
                         because,
                         ": continuing with memory that is not locked "
                         "(still excluded from core dumps and wiped); further occurrences are not reported"};
  write_stderr_line(parts, sizeof parts / sizeof parts[0]);
}

}  // namespace secbits::os
