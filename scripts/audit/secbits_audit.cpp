// secbits-audit PID: checks, from outside and without the process's help,
// that a process's secbits memory is what secbits promises. Reads
// /proc/PID/{smaps,status,limits,environ} and /proc/sys/vm/max_map_count.
// Exit status: 0 when the guarantees hold, 1 when they do not, 2 when the
// process cannot be examined.
//
// A process can name a memfd anything, so the pool's marker alone proves
// nothing: the verdict rests on secbits code mapped from a file and on the
// marker's range being one reservation of anonymous memory, tiled exactly.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/proc_smaps.hpp"

namespace {

using secbits::tools::Mapping;

struct Process {
  std::string pid, name, mode = "all";
  bool interposer = false;  // libsecbits_preload.so's code is mapped
  bool library = false;     // libsecbits.so's code is mapped
  std::vector<Mapping> mappings;
  unsigned long locked_kb = 0;                    // VmLck
  bool memlock_limit_known = false;
  std::optional<unsigned long> memlock_limit;     // bytes; empty when unlimited
  unsigned long max_map_count = 65530;
};

/// The whole of `text` as a number, or nothing: no exception, no partial read.
std::optional<unsigned long> parse_number(std::string_view text, int base) {
  unsigned long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string hex(unsigned long value) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%lx", value);
  return text;
}

/// The kernel appends " (deleted)" to a mapping of an unlinked file; a
/// library replaced on disk while the process runs is still its code.
std::string_view without_deleted_suffix(std::string_view name) {
  constexpr std::string_view deleted = " (deleted)";
  if (name.size() >= deleted.size() && name.substr(name.size() - deleted.size()) == deleted) {
    name.remove_suffix(deleted.size());
  }
  return name;
}

/// The file name of a mapping that comes from a file, or "" for anything
/// else. A memfd's name is whatever the process chose, slashes included.
std::string_view mapped_file_name(const Mapping& mapping) {
  const std::string_view path = without_deleted_suffix(mapping.name);
  if (path.empty() || path.front() != '/' || path.starts_with("/memfd:")) return {};
  return path.substr(path.rfind('/') + 1);
}

/// libsecbits.so, or a versioned file of it such as libsecbits.so.0.1.0.
bool is_library_file(std::string_view file) {
  constexpr std::string_view library = "libsecbits.so";
  if (!file.starts_with(library)) return false;
  const std::string_view version = file.substr(library.size());
  if (version.empty()) return true;
  return version.front() == '.' && version.size() > 1 &&
         version.find_first_not_of("0123456789.") == std::string_view::npos;
}

/// Code, not data: the dynamic loader maps a library's text executable.
bool is_executable(const Mapping& mapping) {
  return mapping.permissions.size() >= 3 && mapping.permissions[2] == 'x';
}

[[noreturn]] void cannot_examine(const std::string& what, const std::string& path, int error) {
  std::cerr << "secbits-audit: " << what << " " << path << ": " << std::strerror(error);
  if (error == ENOENT) std::cerr << " (no such process: it may have exited)";
  if (error == EACCES || error == EPERM) std::cerr << " (run as the process's user, or as root)";
  std::cerr << "\n";
  std::exit(2);
}

std::string read_file(const std::string& path, bool required) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (required) cannot_examine("cannot read", path, errno);
    return {};
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad() && required) cannot_examine("cannot read", path, errno);
  return text.str();
}

Process examine(const std::string& pid) {
  Process process;
  process.pid = pid;
  const std::string proc = "/proc/" + pid;
  const std::string smaps = read_file(proc + "/smaps", true);
  // A process that exits between open and read leaves an empty file.
  if (smaps.empty()) cannot_examine("cannot read", proc + "/smaps", ENOENT);
  std::istringstream smaps_stream(smaps);
  process.mappings = secbits::tools::parse_smaps(smaps_stream);

  std::istringstream status(read_file(proc + "/status", true));
  for (std::string line; std::getline(status, line);) {
    std::istringstream in(line);
    std::string key;
    in >> key;
    if (key == "Name:") in >> process.name;
    if (key == "VmLck:") in >> process.locked_kb;
  }
  std::istringstream limits(read_file(proc + "/limits", false));
  for (std::string line; std::getline(limits, line);) {
    if (line.rfind("Max locked memory", 0) != 0) continue;
    std::istringstream in(line.substr(17));
    std::string soft;
    in >> soft;
    if (soft == "unlimited") {
      process.memlock_limit_known = true;
    } else if (const auto limit = parse_number(soft, 10)) {
      process.memlock_limit_known = true;
      process.memlock_limit = limit;
    }
  }
  // The environment is readable only by the process's user or root: without
  // it the mode stays the default.
  const std::string environment = read_file(proc + "/environ", false);
  for (std::size_t at = 0; at < environment.size();) {
    const std::size_t end = environment.find('\0', at);
    const std::string entry = environment.substr(at, end - at);
    if (entry.rfind("SECBITS_MODE=", 0) == 0) process.mode = entry.substr(13);
    at = end == std::string::npos ? environment.size() : end + 1;
  }
  if (std::string count = read_file("/proc/sys/vm/max_map_count", false); !count.empty()) {
    if (count.back() == '\n') count.pop_back();
    if (const auto value = parse_number(count, 10)) process.max_map_count = *value;
  }
  for (const Mapping& mapping : process.mappings) {
    if (!is_executable(mapping)) continue;
    const std::string_view file = mapped_file_name(mapping);
    if (file == "libsecbits_preload.so") process.interposer = true;
    if (is_library_file(file)) process.library = true;
  }
  return process;
}

struct Range {
  unsigned long begin = 0, end = 0;
  bool operator==(const Range&) const = default;
};

struct PoolMarkers {
  std::vector<Range> ranges;
  std::vector<std::string> malformed;  // the memfd names, as the process gave them
};

/// "0xBEGIN-0xEND", exactly as os::publish_range writes it, with begin < end.
std::optional<Range> parse_marker_range(std::string_view text) {
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const auto address = [](std::string_view part) -> std::optional<unsigned long> {
    if (!part.starts_with("0x")) return std::nullopt;
    return parse_number(part.substr(2), 16);
  };
  const auto begin = address(text.substr(0, dash));
  const auto end = address(text.substr(dash + 1));
  if (!begin || !end || *begin >= *end) return std::nullopt;
  return Range{*begin, *end};
}

/// The ranges the process's secbits pools published (see os::publish_range)
/// as one-page memfds named "secbits-pool:0xBEGIN-0xEND".
PoolMarkers pool_markers(const Process& process) {
  PoolMarkers markers;
  constexpr std::string_view memfd = "/memfd:", label = "secbits-pool:";
  for (const Mapping& mapping : process.mappings) {
    const std::string_view name = mapping.name;
    if (!name.starts_with(memfd) || !name.substr(memfd.size()).starts_with(label)) continue;
    const std::string_view memfd_name = without_deleted_suffix(name.substr(memfd.size()));
    const auto range = parse_marker_range(memfd_name.substr(label.size()));
    if (!range) markers.malformed.emplace_back(memfd_name);
    else if (std::find(markers.ranges.begin(), markers.ranges.end(), *range) == markers.ranges.end()) {
      markers.ranges.push_back(*range);
    }
  }
  return markers;
}

/// Why `range` is not one reservation as the pool makes it (anonymous
/// mappings that cover it exactly, split only where pages were committed or
/// protected), or nothing when it is. Whether each carries dd is judged
/// with the pool's other guarantees.
std::optional<std::string> reservation_mismatch(const std::vector<Mapping>& mappings, Range range) {
  std::vector<const Mapping*> overlapping;
  for (const Mapping& mapping : mappings) {
    if (mapping.start < range.end && mapping.end > range.begin) overlapping.push_back(&mapping);
  }
  if (overlapping.empty()) return "nothing is mapped there";
  std::sort(overlapping.begin(), overlapping.end(),
            [](const Mapping* a, const Mapping* b) { return a->start < b->start; });
  unsigned long covered_to = range.begin;
  for (const Mapping* mapping : overlapping) {
    const std::string where = hex(mapping->start) + "-" + hex(mapping->end);
    if (mapping->start < range.begin || mapping->end > range.end) return "mapping " + where + " crosses its bounds";
    if (mapping->start != covered_to) return "nothing is mapped at " + hex(covered_to);
    if (!mapping->name.empty()) return "mapping " + where + " is " + mapping->name + ", not anonymous memory";
    covered_to = mapping->end;
  }
  if (covered_to != range.end) return "nothing is mapped at " + hex(covered_to);
  return std::nullopt;
}

std::string size_text(unsigned long bytes) {
  char text[32];
  if (bytes >= (1ul << 30)) std::snprintf(text, sizeof text, "%.1f GiB", bytes / double(1ul << 30));
  else if (bytes >= (1ul << 20)) std::snprintf(text, sizeof text, "%.1f MiB", bytes / double(1ul << 20));
  else if (bytes >= 1024) std::snprintf(text, sizeof text, "%.1f KiB", bytes / 1024.0);
  else std::snprintf(text, sizeof text, "%lu bytes", bytes);
  return text;
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  std::string pid;
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    if (argument == "--json") json = true;
    else if (argument == "-h" || argument == "--help") {
      std::cout << "usage: secbits-audit [--json] PID\n"
                   "Checks that the secbits pool of process PID is locked and excluded from core dumps, and\n"
                   "in the interposer's whole-process mode that no heap memory is left unprotected.\n"
                   "Exit status: 0 guarantees hold, 1 they do not, 2 the process cannot be examined.\n";
      return 0;
    } else if (!argument.empty() && argument.find_first_not_of("0123456789") == std::string::npos) pid = argument;
    else {
      std::cerr << "secbits-audit: not a process id: '" << argument << "' (usage: secbits-audit [--json] PID)\n";
      return 2;
    }
  }
  if (pid.empty()) {
    std::cerr << "usage: secbits-audit [--json] PID\n";
    return 2;
  }

  const Process process = examine(pid);
  const PoolMarkers markers = pool_markers(process);
  std::vector<std::string> problems;
  for (const std::string& name : markers.malformed) problems.push_back("malformed secbits pool marker: " + name);
  // Only a marker with a reservation behind it counts as a pool.
  std::vector<Range> ranges;
  for (const Range& range : markers.ranges) {
    if (const auto mismatch = reservation_mismatch(process.mappings, range)) {
      problems.push_back("pool marker " + hex(range.begin) + "-" + hex(range.end) +
                         " does not match a reserved mapping (" + *mismatch + ")");
    } else {
      ranges.push_back(range);
    }
  }
  const bool any_marker = !markers.ranges.empty() || !markers.malformed.empty();
  if (any_marker && !process.interposer && !process.library) {
    problems.push_back("no secbits library mapped from a file (libsecbits_preload.so or libsecbits.so*): "
                       "a pool marker alone proves nothing");
  }

  unsigned long pool_mappings = 0, pool_reserved = 0, pool_resident_kb = 0, pool_locked_kb = 0, pool_dumpable = 0,
                pool_dumpable_kb = 0;
  unsigned long heap_unprotected_kb = 0;
  for (const auto& [begin, end] : ranges) pool_reserved += end - begin;
  for (const Mapping& mapping : process.mappings) {
    bool in_pool = false;
    for (const auto& [begin, end] : ranges) in_pool = in_pool || (mapping.start >= begin && mapping.end <= end);
    if (in_pool) {
      ++pool_mappings;
      pool_resident_kb += mapping.rss_kb;
      pool_locked_kb += mapping.locked_kb;
      if (!mapping.has("dd")) {
        ++pool_dumpable;
        pool_dumpable_kb += mapping.rss_kb;
      }
    } else if (mapping.name == "[heap]" && !mapping.has("dd")) {
      heap_unprotected_kb += mapping.rss_kb;
    }
  }

  if (!any_marker && process.library) {
    // The pool is reserved on its first allocation; SecBytes and SecMem map
    // pages of their own, with no marker to find them by.
    problems.push_back("no secbits pool in this process (libsecbits.so is loaded, but nothing was allocated from its "
                       "pool; SecBytes and SecMem memory is not audited)");
  } else if (!any_marker) {
    problems.push_back("no secbits pool in this process (not run under secbits-run, nor linked with libsecbits)");
  }
  if (pool_dumpable != 0) {
    problems.push_back(std::to_string(pool_dumpable) + " pool mappings (" + size_text(pool_dumpable_kb * 1024) +
                       " resident) would be written to a core dump");
  }
  if (pool_locked_kb < pool_resident_kb) {
    problems.push_back(size_text((pool_resident_kb - pool_locked_kb) * 1024) +
                       " of pool memory is not locked in RAM (lock budget exhausted under the degrade policy?)");
  }
  const bool whole_process = process.interposer && process.mode != "tagged";
  if (whole_process && heap_unprotected_kb != 0) {
    problems.push_back(size_text(heap_unprotected_kb * 1024) +
                       " of [heap] is outside the pool and would be written to a core dump");
  }
  const bool ok = problems.empty();

  if (json) {
    std::cout << "{\"pid\":" << process.pid << ",\"name\":" << json_string(process.name)
              << ",\"interposer\":" << (process.interposer ? "true" : "false")
              << ",\"library\":" << (process.library ? "true" : "false")
              << ",\"mode\":" << json_string(process.interposer ? process.mode : process.library ? "library" : "none")
              << ",\"pool\":{\"reserved_bytes\":" << pool_reserved << ",\"mappings\":" << pool_mappings
              << ",\"resident_bytes\":" << pool_resident_kb * 1024 << ",\"locked_bytes\":" << pool_locked_kb * 1024
              << ",\"dumpable_mappings\":" << pool_dumpable << ",\"unmatched_markers\":"
              << markers.ranges.size() - ranges.size() + markers.malformed.size() << "},\"process\":{\"locked_bytes\":"
              << process.locked_kb * 1024 << ",\"memlock_limit\":";
    // null when unlimited, and also when the limit could not be read.
    if (process.memlock_limit) std::cout << *process.memlock_limit;
    else std::cout << "null";
    std::cout << ",\"mappings\":" << process.mappings.size() << ",\"max_map_count\":" << process.max_map_count
              << ",\"unprotected_heap_bytes\":" << heap_unprotected_kb * 1024 << "},\"ok\":" << (ok ? "true" : "false")
              << ",\"problems\":[";
    for (std::size_t i = 0; i < problems.size(); ++i) std::cout << (i ? "," : "") << json_string(problems[i]);
    std::cout << "]}\n";
    return ok ? 0 : 1;
  }

  const auto row = [](const char* label, const std::string& value) { std::printf("  %-24s %s\n", label, value.c_str()); };
  std::printf("secbits-audit: process %s (%s)\n", process.pid.c_str(), process.name.c_str());
  row("secbits", process.interposer ? "interposer, mode " + process.mode
                 : process.library  ? std::string("library")
                 : any_marker       ? std::string("no secbits code mapped, only a pool marker")
                                    : std::string("not present"));
  if (any_marker && ranges.empty()) row("secure pool", "none: no marker matches a reserved mapping");
  if (!ranges.empty()) {
    row("secure pool", std::to_string(pool_mappings) + " mappings, " + size_text(pool_resident_kb * 1024) +
                           " resident (" + size_text(pool_reserved) + " reserved)");
    row("locked in RAM", size_text(pool_locked_kb * 1024) + " of " + size_text(pool_resident_kb * 1024) +
                             " resident; process VmLck " + size_text(process.locked_kb * 1024) + " of RLIMIT_MEMLOCK " +
                             (!process.memlock_limit_known ? std::string("unknown")
                              : process.memlock_limit     ? size_text(*process.memlock_limit)
                                                          : std::string("unlimited")));
    row("out of core dumps", std::to_string(pool_mappings - pool_dumpable) + " of " + std::to_string(pool_mappings) +
                                 " pool mappings (dd)");
  }
  row("mappings (VMAs)", std::to_string(process.mappings.size()) + " of vm.max_map_count " +
                             std::to_string(process.max_map_count));
  if (whole_process) {
    row("unprotected heap", heap_unprotected_kb == 0 ? std::string("none")
                                                     : size_text(heap_unprotected_kb * 1024) + " of [heap]");
  }
  row("verdict", ok ? "OK: secbits memory is locked and excluded from core dumps" : "FAIL");
  for (const std::string& problem : problems) std::printf("    - %s\n", problem.c_str());
  return ok ? 0 : 1;
}
