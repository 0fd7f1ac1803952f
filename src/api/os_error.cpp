#include "api/os_error.hpp"

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>

#include <secbits/error.hpp>

#include "os/diagnostics.hpp"
#include "os/memlock.hpp"

namespace secbits::detail {

namespace {

bool is_mlock(os::Status status) noexcept { return std::strcmp(status.operation, "mlock") == 0; }

std::string memlock_hint() {
  const std::size_t limit = os::memlock_limit();
  if (limit == SIZE_MAX) return {};
  return "RLIMIT_MEMLOCK is " + std::to_string(limit) + " bytes; raise it or grant CAP_IPC_LOCK";
}

constinit std::atomic<bool> warned_unlocked{false};

}  // namespace

void throw_os_error(os::Status status, std::size_t bytes) {
  throw Error(std::error_code(status.error, std::generic_category()),
              std::string(status.operation) + " of " + std::to_string(bytes) + " bytes failed",
              is_mlock(status) ? memlock_hint() : std::string());
}

void warn_unlocked_once(os::Status status, std::size_t bytes) noexcept {
  if (warned_unlocked.exchange(true, std::memory_order_relaxed)) return;
  char size_text[21];
  char limit_text[21];
  char reason[128];
  const std::size_t limit = os::memlock_limit();
  const char* parts[] = {"secbits: ",
                         status.operation,
                         " of ",
                         os::format_decimal(bytes, size_text),
                         " bytes failed (",
                         ::strerror_r(status.error, reason, sizeof reason),
                         "; RLIMIT_MEMLOCK is ",
                         limit == SIZE_MAX ? "unlimited" : os::format_decimal(limit, limit_text),
                         " bytes); LockPolicy::Degrade: continuing with memory that is not locked "
                         "(still excluded from core dumps and wiped); further occurrences are not reported"};
  os::write_stderr_line(parts, sizeof parts / sizeof parts[0]);
}

}  // namespace secbits::detail
