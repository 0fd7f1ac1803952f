#include "api/os_error.hpp"

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

}  // namespace

void throw_os_error(os::Status status, std::size_t bytes) {
  throw Error(std::error_code(status.error, std::generic_category()),
              std::string(status.operation) + " of " + std::to_string(bytes) + " bytes failed",
              is_mlock(status) ? memlock_hint() : std::string());
}

}  // namespace secbits::detail
