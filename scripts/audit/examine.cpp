#include "audit/examine.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <linux/magic.h>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>
#include <sys/vfs.h>
#include <utility>

#include "audit/proc_files.hpp"
#include "audit/text.hpp"

#ifndef SECRETMEM_MAGIC
#define SECRETMEM_MAGIC 0x5345434d  // "SECM", Linux 5.14's include/uapi/linux/magic.h
#endif

namespace secbits::audit {

namespace {

using tools::Mapping;

/// The whole of `text` as a number, or nothing: no exception, no partial read.
std::optional<unsigned long> parse_number(std::string_view text, int base) {
  unsigned long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
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

bool is_interposer_code(const Mapping& mapping) {
  return is_executable(mapping) && mapped_file_name(mapping) == "libsecbits_preload.so";
}

bool is_library_code(const Mapping& mapping) {
  return is_executable(mapping) && is_library_file(mapped_file_name(mapping));
}

constexpr std::string_view kMemfd = "/memfd:", kMarkerLabel = "secbits-pool:";

/// The memfd's name, without " (deleted)", when `mapping` is a pool marker,
/// well-formed or not; empty otherwise.
std::string_view marker_name(const Mapping& mapping) {
  const std::string_view name = mapping.name;
  if (!name.starts_with(kMemfd) || !name.substr(kMemfd.size()).starts_with(kMarkerLabel)) return {};
  return without_deleted_suffix(name.substr(kMemfd.size()));
}

/// How /proc/PID/maps names a mapping of memfd_secret: a file the kernel
/// unlinked as it made it, on its secretmem file system, which may only be
/// mapped shared. Any other name is not secret memory, "/secretmem" without
/// " (deleted)" (a file of that name in the root directory) included.
constexpr std::string_view kSecretMemory = "/secretmem (deleted)";

bool named_secret_memory(const Mapping& mapping) { return mapping.name == kSecretMemory; }

bool is_shared(const Mapping& mapping) { return mapping.permissions.size() >= 4 && mapping.permissions[3] == 's'; }

/// Anonymous memory the pool committed, as opposed to the bare reservation
/// (PROT_NONE, unlocked, nothing resident): open, locked (MLOCK_ONFAULT
/// keeps lo on closed pages), wiped on fork, or resident.
bool committed_anonymous(const Mapping& mapping) {
  return mapping.name.empty() && (mapping.permissions.compare(0, 3, "---") != 0 || mapping.has("lo") ||
                                  mapping.has("wf") || mapping.rss_kb != 0);
}

/// Whether the file behind a mapping named like secret memory is on the
/// kernel's secretmem file system, by statfs through /proc/PID/map_files;
/// nothing when that may not be looked at. The kernel lets only root
/// (CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE) follow those links: after the
/// first refusal the rest are not tried, and the name is all there is. A
/// mapping gone since smaps was read (ENOENT) is not known either.
class SecretMemoryCheck {
 public:
  explicit SecretMemoryCheck(std::string pid) : pid_(std::move(pid)) {}

  std::optional<bool> on_secretmem(const Mapping& mapping) {
    if (refused_) return std::nullopt;
    if (const auto known = seen_.find(mapping.start); known != seen_.end()) return known->second;
    char range[48];
    std::snprintf(range, sizeof range, "%lx-%lx", mapping.start, mapping.end);
    std::optional<bool> answer;
    struct statfs file_system {};
    if (::statfs(("/proc/" + pid_ + "/map_files/" + range).c_str(), &file_system) == 0) {
      answer = file_system.f_type == SECRETMEM_MAGIC;
    } else {
      refused_ = errno == EPERM || errno == EACCES;
    }
    seen_.emplace(mapping.start, answer);
    return answer;
  }

 private:
  std::string pid_;
  bool refused_ = false;
  std::map<unsigned long, std::optional<bool>> seen_;  // by start: each is asked twice
};

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
PoolMarkers pool_markers(const std::vector<Mapping>& mappings) {
  PoolMarkers markers;
  for (const Mapping& mapping : mappings) {
    const std::string_view memfd_name = marker_name(mapping);
    if (memfd_name.empty()) continue;
    const auto range = parse_marker_range(memfd_name.substr(kMarkerLabel.size()));
    if (!range) markers.malformed.emplace_back(memfd_name);
    else if (std::find(markers.ranges.begin(), markers.ranges.end(), *range) == markers.ranges.end()) {
      markers.ranges.push_back(*range);
    }
  }
  return markers;
}

/// Why `range` is not one reservation as the pool makes it (anonymous
/// mappings that cover it exactly, split only where pages were committed or
/// protected, and where the secret source committed them, shared mappings
/// of secret memory), or nothing when it is. Whether each carries dd is
/// judged with the pool's other guarantees.
std::optional<std::string> reservation_mismatch(const std::vector<Mapping>& mappings, Range range,
                                                SecretMemoryCheck& secret_memory) {
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
    if (named_secret_memory(*mapping)) {
      if (!is_shared(*mapping)) {
        return "mapping " + where + " is named " + std::string(kSecretMemory) +
               " but is private: secret memory is only ever mapped shared";
      }
      if (secret_memory.on_secretmem(*mapping) == false) {
        return "mapping " + where + " is named " + std::string(kSecretMemory) +
               " but its file is not on the kernel's secretmem file system";
      }
    } else if (!mapping->name.empty()) {
      return "mapping " + where + " is " + mapping->name + ", neither anonymous nor secret memory";
    }
    covered_to = mapping->end;
  }
  if (covered_to != range.end) return "nothing is mapped at " + hex(covered_to);
  return std::nullopt;
}

void read_status(const std::string& text, Examination& process) {
  std::istringstream status(text);
  for (std::string line; std::getline(status, line);) {
    std::istringstream in(line);
    std::string key;
    in >> key;
    if (key == "VmLck:" && in >> process.locked_bytes) process.locked_bytes *= 1024;
  }
}

void read_limits(const std::string& text, Examination& process) {
  std::istringstream limits(text);
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
}

/// What the verdict says besides the problems: who else can read the
/// pool's pages, and why its source may not be the one its environment asks for.
void add_notes(Examination& process) {
  const std::string source = process.source();
  constexpr const char* secret_text = "not readable by other processes, root included (memfd_secret)";
  constexpr const char* anonymous_text = "readable by root and by ptrace-capable processes of the same user";
  std::vector<std::string>& notes = process.notes;
  if (source == "secret") {
    notes.push_back(std::string("secrets ") + secret_text);
  } else if (source == "anonymous") {
    notes.push_back(std::string("secrets ") + anonymous_text +
                    " (anonymous memory; the secret page source would make them unreadable)");
  } else if (source == "mixed") {
    notes.push_back("secrets partly readable: the pool's anonymous memory (" +
                    size_text(process.pool_anonymous_resident_bytes) + " resident) is " + anonymous_text +
                    "; its secret memory (" + size_text(process.pool_secret_resident_bytes) + " resident) is " +
                    secret_text);
    notes.push_back("anonymous pages beside secret memory: the degrade lock policy served them when the kernel "
                    "refused secret memory (over RLIMIT_MEMLOCK?)");
  }
  // Only the interposer reads SECBITS_SOURCE; a program chooses with
  // secbits_set_page_source, which leaves nothing in its environment.
  if (!process.interposer || source == "none yet" || source == "mixed") return;
  if (process.requested_source == "secret" && source == "anonymous") {
    notes.push_back("SECBITS_SOURCE=secret is in its environment, yet its pool's pages are anonymous (an interposer "
                    "older than the option?)");
  } else if (process.requested_source == "auto" && source == "anonymous") {
    notes.push_back("SECBITS_SOURCE=auto fell back to anonymous memory: the kernel refused secret memory "
                    "(memfd_secret needs Linux 5.14 or later, and secretmem.enable=1 where it is off by default)");
  }
}

/// The verdict, from the mappings: fills the pool's numbers and the problems.
void judge(const std::vector<Mapping>& mappings, Examination& process) {
  const PoolMarkers markers = pool_markers(mappings);
  std::vector<std::string>& problems = process.problems;
  for (const std::string& name : markers.malformed) problems.push_back("malformed secbits pool marker: " + name);
  // Only a marker with a reservation behind it counts as a pool.
  std::vector<Range> ranges;
  SecretMemoryCheck secret_memory(process.pid);
  for (const Range& range : markers.ranges) {
    if (const auto mismatch = reservation_mismatch(mappings, range, secret_memory)) {
      problems.push_back("pool marker " + hex(range.begin) + "-" + hex(range.end) +
                         " does not match a reserved mapping (" + *mismatch + ")");
    } else {
      ranges.push_back(range);
    }
  }
  process.any_marker = !markers.ranges.empty() || !markers.malformed.empty();
  process.pool_found = !ranges.empty();
  process.unmatched_markers = markers.ranges.size() - ranges.size() + markers.malformed.size();
  if (process.any_marker && !process.interposer && !process.library) {
    problems.push_back("no secbits library mapped from a file (libsecbits_preload.so or libsecbits.so*): "
                       "a pool marker alone proves nothing");
  }

  unsigned long dumpable_resident_kb = 0, unprotected_heap_kb = 0;
  for (const auto& [begin, end] : ranges) process.pool_reserved_bytes += end - begin;
  for (const Mapping& mapping : mappings) {
    bool in_pool = false;
    for (const auto& [begin, end] : ranges) in_pool = in_pool || (mapping.start >= begin && mapping.end <= end);
    if (in_pool) {
      ++process.pool_mappings;
      process.pool_resident_bytes += mapping.rss_kb * 1024;
      // Every resident page of a VM_LOCKED mapping (lo) is locked. smaps'
      // Locked: is no measure here: it counts a page shared with a forked
      // child as half a page, so a pre-forking server would look half
      // unlocked while every page is.
      if (mapping.has("lo")) process.pool_locked_bytes += mapping.rss_kb * 1024;
      if (!mapping.has("dd")) {
        ++process.pool_dumpable_mappings;
        dumpable_resident_kb += mapping.rss_kb;
      }
      // The kernel locks secret memory itself (lo, Locked: = Rss:) and
      // leaves it out of core dumps (dd): the rules above judge it as is.
      if (named_secret_memory(mapping)) {
        ++process.pool_secret_mappings;
        if (secret_memory.on_secretmem(mapping) == true) ++process.pool_secret_verified;
        process.pool_secret_resident_bytes += mapping.rss_kb * 1024;
      } else if (committed_anonymous(mapping)) {
        ++process.pool_anonymous_mappings;
        process.pool_anonymous_resident_bytes += mapping.rss_kb * 1024;
      }
    } else if (mapping.name == "[heap]" && !mapping.has("dd")) {
      unprotected_heap_kb += mapping.rss_kb;
    }
  }
  process.unprotected_heap_bytes = unprotected_heap_kb * 1024;

  if (!process.any_marker && process.interposer && process.mode == "tagged") {
    // Tagged mode reserves the pool at the first tagged allocation: until
    // then no secret is in it, and the rest of the heap is promised nothing.
  } else if (!process.any_marker && process.library) {
    // The pool is reserved on its first allocation; SecBytes and SecMem map
    // pages of their own, with no marker to find them by.
    problems.push_back("no secbits pool in this process (libsecbits.so is loaded, but nothing was allocated from its "
                       "pool; SecBytes and SecMem memory is not audited)");
  } else if (!process.any_marker) {
    problems.push_back("no secbits pool in this process (not run under secbits-run, nor linked with libsecbits)");
  }
  if (process.pool_dumpable_mappings != 0) {
    problems.push_back(std::to_string(process.pool_dumpable_mappings) + " pool mappings (" +
                       size_text(dumpable_resident_kb * 1024) + " resident) would be written to a core dump");
  }
  if (process.pool_locked_bytes < process.pool_resident_bytes) {
    problems.push_back(size_text(process.pool_resident_bytes - process.pool_locked_bytes) +
                       " of pool memory is not locked in RAM (lock budget exhausted under the degrade policy?)");
  }
  process.whole_process = process.interposer && process.mode != "tagged";
  if (process.whole_process && process.unprotected_heap_bytes != 0) {
    problems.push_back(size_text(process.unprotected_heap_bytes) +
                       " of [heap] is outside the pool and would be written to a core dump");
  }
  add_notes(process);
}

}  // namespace

bool Unexaminable::exited() const { return error == ENOENT || error == ESRCH; }

std::string Examination::source() const {
  if (pool_secret_mappings != 0) return pool_anonymous_mappings != 0 ? "mixed" : "secret";
  return pool_anonymous_mappings != 0 ? "anonymous" : "none yet";
}

std::optional<bool> Examination::readable_by_others() const {
  if (pool_anonymous_mappings != 0) return true;
  if (pool_secret_mappings != 0) return false;
  return std::nullopt;
}

bool shows_secbits(const std::vector<Mapping>& mappings) {
  return std::any_of(mappings.begin(), mappings.end(),
                     [](const Mapping& m) { return is_interposer_code(m) || !marker_name(m).empty(); });
}

std::variant<Examination, Unexaminable> examine(const std::string& pid) {
  Examination process;
  process.pid = pid;
  const std::string proc = "/proc/" + pid;
  ProcFile smaps = read_proc_file(proc + "/smaps");
  if (smaps.error != 0) return Unexaminable{proc + "/smaps", smaps.error};
  // A process that exits between open and read leaves an empty file (so
  // does a kernel thread, which is no process of secbits either).
  if (smaps.text.empty()) return Unexaminable{proc + "/smaps", ENOENT};
  std::istringstream smaps_stream(std::move(smaps.text));
  const std::vector<Mapping> mappings = tools::parse_smaps(smaps_stream);
  process.mappings = mappings.size();

  const ProcFile status = read_proc_file(proc + "/status");
  if (status.error != 0) return Unexaminable{proc + "/status", status.error};
  read_status(status.text, process);
  std::string comm = read_proc_file(proc + "/comm").text;
  if (!comm.empty() && comm.back() == '\n') comm.pop_back();
  process.comm = std::move(comm);
  read_limits(read_proc_file(proc + "/limits").text, process);
  // The environment is readable only by the process's user or root: without
  // it the mode stays the default.
  const std::string environment = read_proc_file(proc + "/environ").text;
  bool mode_seen = false, source_seen = false;
  for (std::size_t at = 0; at < environment.size();) {
    const std::size_t end = environment.find('\0', at);
    const std::string entry = environment.substr(at, end - at);
    // The first entry of each, as getenv and the interposer take it.
    if (!mode_seen && entry.rfind("SECBITS_MODE=", 0) == 0) {
      process.mode = entry.substr(13);
      mode_seen = true;
    } else if (!source_seen && entry.rfind("SECBITS_SOURCE=", 0) == 0) {
      process.requested_source = entry.substr(15);
      source_seen = true;
    }
    at = end == std::string::npos ? environment.size() : end + 1;
  }
  if (std::string count = read_proc_file("/proc/sys/vm/max_map_count").text; !count.empty()) {
    if (count.back() == '\n') count.pop_back();
    if (const auto value = parse_number(count, 10)) process.max_map_count = *value;
  }
  for (const Mapping& mapping : mappings) {
    process.interposer = process.interposer || is_interposer_code(mapping);
    process.library = process.library || is_library_code(mapping);
  }
  process.shows_secbits = shows_secbits(mappings);
  judge(mappings, process);
  return process;
}

}  // namespace secbits::audit
