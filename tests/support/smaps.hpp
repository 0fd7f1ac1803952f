#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <sys/types.h>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace secbits::test {

/// One mapping of /proc/self/smaps, as the kernel reports it.
struct Mapping {
  std::uintptr_t start = 0;
  std::uintptr_t end = 0;
  std::string permissions;        // e.g. "---p", "rw-p"
  std::set<std::string> flags;    // VmFlags: "lo", "dd", "wf", ...
  std::size_t rss_kb = 0;
  std::size_t locked_kb = 0;
  std::size_t private_dirty_kb = 0;  // pages this process has written and shares with no other
  std::string path;               // the last column: "" for anonymous memory, "/secretmem (deleted)", ...

  bool has_flag(const std::string& flag) const { return flags.count(flag) != 0; }
  /// A mapping of a memfd_secret file: the kernel names every one of them so.
  bool is_secret_memory() const { return path.rfind("/secretmem", 0) == 0; }
};

/// The mapping of this process that contains `address`, if any.
std::optional<Mapping> mapping_containing(const void* address);

/// Every mapping of this process, in address order, from one read of
/// /proc/self/smaps (each read walks the page tables of every mapping: under
/// a sanitizer, with its shadow memory, that is slow enough to matter).
std::vector<Mapping> all_mappings();

/// Every mapping of process `pid` (/proc/PID/smaps), in address order.
std::vector<Mapping> all_mappings_of(pid_t pid);

/// The mapping of `mappings` (as from all_mappings()) that contains `address`.
const Mapping* find_mapping(const std::vector<Mapping>& mappings, const void* address);

/// Number of mappings (VMAs) this process has now.
std::size_t mapping_count();

/// [start, end) of every mapping of /proc/self/maps, in address order.
std::vector<std::pair<std::uintptr_t, std::uintptr_t>> mapping_ranges();

}  // namespace secbits::test
