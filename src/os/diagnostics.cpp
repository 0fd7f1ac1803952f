#include "os/diagnostics.hpp"

#include <cstdlib>
#include <cstring>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

namespace secbits::os {

namespace {

constexpr std::size_t kMaxParts = 32;

}  // namespace

const char* format_decimal(unsigned long long value, char* buffer) noexcept {
  char digits[21];
  std::size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  for (std::size_t i = 0; i < n; ++i) buffer[i] = digits[n - 1 - i];
  buffer[n] = '\0';
  return buffer;
}

const char* format_hex(unsigned long long value, char* buffer) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  char digits[16];
  std::size_t n = 0;
  do {
    digits[n++] = kHex[value & 0xf];
    value >>= 4;
  } while (value != 0);
  buffer[0] = '0';
  buffer[1] = 'x';
  for (std::size_t i = 0; i < n; ++i) buffer[2 + i] = digits[n - 1 - i];
  buffer[2 + n] = '\0';
  return buffer;
}

void write_stderr_line(const char* const* parts, std::size_t count) noexcept {
  iovec iov[kMaxParts + 1];
  std::size_t used = 0;
  for (std::size_t i = 0; i < count && used < kMaxParts; ++i) {
    if (parts[i] == nullptr) continue;
    iov[used].iov_base = const_cast<char*>(parts[i]);
    iov[used].iov_len = std::strlen(parts[i]);
    ++used;
  }
  iov[used].iov_base = const_cast<char*>("\n");
  iov[used].iov_len = 1;
  ++used;
  // One writev keeps the line whole when several threads report at once.
  [[maybe_unused]] ssize_t written = ::writev(STDERR_FILENO, iov, static_cast<int>(used));
}

void fatal(const char* what, const void* address) noexcept {
  char hex[19];
  const char* parts[] = {"secbits: ", what, " ", format_hex(reinterpret_cast<unsigned long long>(address), hex)};
  write_stderr_line(parts, sizeof parts / sizeof parts[0]);
  std::abort();
}

void fatal_errno(const char* what, const void* address, int error) noexcept {
  char hex[19];
  char reason[128];
  const char* description = ::strerror_r(error, reason, sizeof reason);
  const char* parts[] = {"secbits: ", what, " ", format_hex(reinterpret_cast<unsigned long long>(address), hex),
                         " (", description, ")"};
  write_stderr_line(parts, sizeof parts / sizeof parts[0]);
  std::abort();
}

}  // namespace secbits::os
