// secbits-audit PID: checks, from outside and without the process's help,
// that a process's secbits memory is what secbits promises. Reads
// /proc/PID/{smaps,status,limits,environ} and /proc/sys/vm/max_map_count.
// Exit status: 0 when the guarantees hold, 1 when they do not, 2 when the
// process cannot be examined.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/proc_smaps.hpp"

namespace {

using secbits::tools::Mapping;

struct Process {
  std::string pid, name, mode = "all";
  bool interposer = false;
  std::vector<Mapping> mappings;
  unsigned long locked_kb = 0;                    // VmLck
  std::optional<unsigned long> memlock_limit;     // bytes; empty when unlimited
  unsigned long max_map_count = 65530;
};

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
    if (soft != "unlimited") process.memlock_limit = std::stoul(soft);
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
  if (const std::string count = read_file("/proc/sys/vm/max_map_count", false); !count.empty()) {
    process.max_map_count = std::stoul(count);
  }
  for (const Mapping& mapping : process.mappings) {
    if (mapping.name.size() >= 21 && mapping.name.rfind("libsecbits_preload.so") == mapping.name.size() - 21) {
      process.interposer = true;
    }
  }
  return process;
}

/// The pool ranges the processes' secbits pools published (see
/// os::publish_range): "/memfd:secbits-pool:0xBEGIN-0xEND (deleted)".
std::vector<std::pair<unsigned long, unsigned long>> pool_ranges(const Process& process) {
  std::vector<std::pair<unsigned long, unsigned long>> ranges;
  const std::string marker = "/memfd:secbits-pool:";
  for (const Mapping& mapping : process.mappings) {
    if (mapping.name.rfind(marker, 0) != 0) continue;
    const std::string range = mapping.name.substr(marker.size());
    const auto dash = range.find('-');
    if (dash == std::string::npos) continue;
    ranges.emplace_back(std::stoul(range.substr(0, dash), nullptr, 16), std::stoul(range.substr(dash + 1), nullptr, 16));
  }
  return ranges;
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
  const auto ranges = pool_ranges(process);
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

  std::vector<std::string> problems;
  if (ranges.empty()) problems.push_back("no secbits pool in this process (not run under secbits-run, nor linked with libsecbits)");
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
              << ",\"mode\":" << json_string(process.interposer ? process.mode : "library")
              << ",\"pool\":{\"reserved_bytes\":" << pool_reserved << ",\"mappings\":" << pool_mappings
              << ",\"resident_bytes\":" << pool_resident_kb * 1024 << ",\"locked_bytes\":" << pool_locked_kb * 1024
              << ",\"dumpable_mappings\":" << pool_dumpable << "},\"process\":{\"locked_bytes\":"
              << process.locked_kb * 1024 << ",\"memlock_limit\":";
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
                                    : (ranges.empty() ? std::string("not present") : std::string("library")));
  if (!ranges.empty()) {
    row("secure pool", std::to_string(pool_mappings) + " mappings, " + size_text(pool_resident_kb * 1024) +
                           " resident (" + size_text(pool_reserved) + " reserved)");
    row("locked in RAM", size_text(pool_locked_kb * 1024) + " of " + size_text(pool_resident_kb * 1024) +
                             " resident; process VmLck " + size_text(process.locked_kb * 1024) + " of RLIMIT_MEMLOCK " +
                             (process.memlock_limit ? size_text(*process.memlock_limit) : std::string("unlimited")));
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
