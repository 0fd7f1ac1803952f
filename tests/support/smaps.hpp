#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

namespace secbits::test {

/// One mapping of /proc/self/smaps, as the kernel reports it.
struct Mapping {
  std::uintptr_t start = 0;
  std::uintptr_t end = 0;
  std::string permissions;        // e.g. "---p", "rw-p"
  std::set<std::string> flags;    // VmFlags: "lo", "dd", "wf", ...
  std::size_t rss_kb = 0;
  std::size_t locked_kb = 0;

  bool has_flag(const std::string& flag) const { return flags.count(flag) != 0; }
};

/// The mapping of this process that contains `address`, if any.
std::optional<Mapping> mapping_containing(const void* address);

/// Number of mappings (VMAs) this process has now.
std::size_t mapping_count();

}  // namespace secbits::test
