#pragma once

#include <cerrno>
#include <cstddef>

namespace secbits::os {

/// Writes "secbits: <what> 0x<address>" on stderr and aborts. Never allocates,
/// so it is safe in any state the allocator can be in.
[[noreturn, gnu::cold]] void fatal(const char* what, const void* address) noexcept;

/// Writes "secbits: <what> 0x<address> (<strerror of error>)" and aborts.
[[noreturn, gnu::cold]] void fatal_errno(const char* what, const void* address, int error) noexcept;

/// Writes the concatenation of `parts` and a newline on stderr with one
/// write(2), without allocating. Parts that are null are skipped.
void write_stderr_line(const char* const* parts, std::size_t count) noexcept;

/// Formats `value` in decimal into `buffer` (at least 21 bytes) and returns it.
const char* format_decimal(unsigned long long value, char* buffer) noexcept;
/// Formats `value` as 0x-prefixed hexadecimal into `buffer` (at least 19 bytes).
const char* format_hex(unsigned long long value, char* buffer) noexcept;

/// Keeps errno across a scope: free() and its relatives must not change it
/// (glibc's manual asks replacement allocators for that; libuv relies on it).
class ErrnoGuard {
 public:
  // errno is a call to __errno_location: ask once, not twice.
  ErrnoGuard() noexcept : location_(&errno), saved_(*location_) {}
  ~ErrnoGuard() { *location_ = saved_; }
  ErrnoGuard(const ErrnoGuard&) = delete;
  ErrnoGuard& operator=(const ErrnoGuard&) = delete;

 private:
  int* location_;
  int saved_;
};

}  // namespace secbits::os
