#include "os/proc.hpp"


#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "os/diagnostics.hpp"

namespace secbits::os {

namespace {

constexpr std::size_t kDefaultMaxMapCount = 65530;

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/// Calls `on_line_start(first_chars, count)` with the start of every line.
template <class OnLineStart>
void for_each_line_start(const char* path, OnLineStart on_line_start) noexcept {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buffer[4096];
  // Only the first bytes of a line matter: an address fits in 16 hex digits.
  char line_start[32];
  std::size_t kept = 0;
  bool at_line_start = true;
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) {
    for (ssize_t i = 0; i < n; ++i) {
      const char c = buffer[i];
      if (c == '\n') {
        on_line_start(line_start, kept);
        kept = 0;
        at_line_start = true;
        continue;
      }
      if (at_line_start && kept < sizeof line_start) line_start[kept++] = c;
      else at_line_start = false;
    }
  }
  ::close(fd);
}

}  // namespace

std::size_t count_mappings_in(const void* begin, const void* end) noexcept {
  const auto low = reinterpret_cast<std::uintptr_t>(begin);
  const auto high = reinterpret_cast<std::uintptr_t>(end);
  std::size_t count = 0;
  for_each_line_start("/proc/self/maps", [&](const char* text, std::size_t length) {
    std::uintptr_t start = 0;
    for (std::size_t i = 0; i < length; ++i) {
      const int digit = hex_digit(text[i]);
      if (digit < 0) break;
      start = start * 16 + static_cast<std::uintptr_t>(digit);
    }
    if (start >= low && start < high) ++count;
  });
  return count;
}

std::size_t address_space_limit() noexcept {
  rlimit limit{};
  if (::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
  return static_cast<std::size_t>(limit.rlim_cur);
}

std::size_t max_map_count() noexcept {
  std::size_t value = 0;
  bool seen_digit = false;
  for_each_line_start("/proc/sys/vm/max_map_count", [&](const char* text, std::size_t length) {
    for (std::size_t i = 0; i < length && text[i] >= '0' && text[i] <= '9'; ++i) {
      value = value * 10 + static_cast<std::size_t>(text[i] - '0');
      seen_digit = true;
    }
  });
  return seen_digit && value > 0 ? value : kDefaultMaxMapCount;
}

void publish_range(const char* label, const void* begin, const void* end) noexcept {
  char name[96];
  char low[19];
  char high[19];
  format_hex(reinterpret_cast<std::uintptr_t>(begin), low);
  format_hex(reinterpret_cast<std::uintptr_t>(end), high);
  const std::size_t label_length = std::strlen(label);
  if (label_length + 1 + std::strlen(low) + 1 + std::strlen(high) + 1 > sizeof name) return;
  char* at = name;
  const char* const parts[] = {label, ":", low, "-", high};
  for (const char* part : parts) {
    const std::size_t length = std::strlen(part);
    std::memcpy(at, part, length);
    at += length;
  }
  *at = '\0';
  const int fd = ::memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) return;
  const long page = ::sysconf(_SC_PAGESIZE);
  if (::ftruncate(fd, page) == 0) {
    // The mapping outlives the descriptor, and it is all the name needs.
    (void)::mmap(nullptr, static_cast<std::size_t>(page), PROT_READ, MAP_SHARED, fd, 0);
  }
  ::close(fd);
}

}  // namespace secbits::os
