#pragma once

#include <cstddef>

#include "os/status.hpp"

namespace secbits::detail {

/// Throws secbits::Error for a failed system call on `bytes` bytes:
/// "<operation> of <bytes> bytes failed: <errno text>", with the lock budget
/// and the way to raise it when the call was mlock.
[[noreturn]] void throw_os_error(os::Status status, std::size_t bytes);

}  // namespace secbits::detail
