#pragma once

#include <cstddef>

#include "os/status.hpp"

namespace secbits::detail {

/// Throws secbits::Error for a failed system call on `bytes` bytes:
/// "<operation> of <bytes> bytes failed: <errno text>", with the lock budget
/// and the way to raise it when the call was mlock.
[[noreturn]] void throw_os_error(os::Status status, std::size_t bytes);

/// Tells stderr, once per process, that LockPolicy::Degrade served memory the
/// kernel refused to lock, and why.
void warn_unlocked_once(os::Status status, std::size_t bytes) noexcept;

}  // namespace secbits::detail
