#include "audit/text_report.hpp"

#include <cstdio>

#include "audit/text.hpp"

namespace secbits::audit {

namespace {

std::string memlock_limit_text(const Examination& process) {
  if (!process.memlock_limit_known) return "unknown";
  return process.memlock_limit ? size_text(*process.memlock_limit) : "unlimited";
}

bool pool_not_yet_reserved(const Examination& process) {
  return !process.any_marker && process.interposer && process.mode == "tagged";
}

std::string mappings_text(unsigned long count, unsigned long resident_bytes) {
  return std::to_string(count) + (count == 1 ? " mapping, " : " mappings, ") + size_text(resident_bytes) +
         " resident";
}

/// Where the committed pages come from, with the mappings of each kind.
std::string source_text(const Examination& process) {
  const std::string source = process.source();
  std::string out = source;
  const std::string secret = mappings_text(process.pool_secret_mappings, process.pool_secret_resident_bytes);
  const std::string anonymous = mappings_text(process.pool_anonymous_mappings, process.pool_anonymous_resident_bytes);
  if (source == "secret") out += " (memfd_secret): " + secret;
  else if (source == "anonymous") out += ": " + anonymous;
  else if (source == "mixed") out += ": secret " + secret + "; anonymous " + anonymous;
  else out += ": no pages committed";
  if (process.pool_secret_mappings != 0 && process.pool_secret_verified < process.pool_secret_mappings) {
    out += "; known by name only (as root, its file system is checked too)";
  }
  if (!process.requested_source.empty()) out += " (SECBITS_SOURCE=" + printable(process.requested_source) + ")";
  return out;
}

}  // namespace

std::string text_report(const Examination& process) {
  std::string out;
  const auto row = [&out](const char* label, const std::string& value) {
    char line[64];
    std::snprintf(line, sizeof line, "  %-24s ", label);
    out += line + value + "\n";
  };
  out += "secbits-audit: process " + process.pid + " (" + printable(process.comm) + ")\n";
  row("secbits", process.interposer       ? "interposer, mode " + printable(process.mode)
                 : process.library        ? std::string("library")
                 : process.any_marker     ? std::string("no secbits code mapped, only a pool marker")
                                          : std::string("not present"));
  if (pool_not_yet_reserved(process)) {
    row("secure pool", "none yet: tagged mode reserves it at the first tagged allocation");
  }
  if (process.any_marker && !process.pool_found) row("secure pool", "none: no marker matches a reserved mapping");
  if (process.pool_found) {
    row("secure pool", std::to_string(process.pool_mappings) + " mappings, " +
                           size_text(process.pool_resident_bytes) + " resident (" +
                           size_text(process.pool_reserved_bytes) + " reserved)");
    row("locked in RAM", size_text(process.pool_locked_bytes) + " of " + size_text(process.pool_resident_bytes) +
                             " resident; process VmLck " + size_text(process.locked_bytes) + " of RLIMIT_MEMLOCK " +
                             memlock_limit_text(process));
    row("out of core dumps", std::to_string(process.pool_mappings - process.pool_dumpable_mappings) + " of " +
                                 std::to_string(process.pool_mappings) + " pool mappings (dd)");
    row("page source", source_text(process));
  }
  row("mappings (VMAs)",
      std::to_string(process.mappings) + " of vm.max_map_count " + std::to_string(process.max_map_count));
  if (process.whole_process) {
    row("unprotected heap", process.unprotected_heap_bytes == 0
                                ? std::string("none")
                                : size_text(process.unprotected_heap_bytes) + " of [heap]");
  }
  row("verdict", process.ok() ? "OK: secbits memory is locked and excluded from core dumps" : "FAIL");
  for (const std::string& problem : process.problems) out += "    - " + printable(problem) + "\n";
  for (const std::string& note : process.notes) out += "    note: " + printable(note) + "\n";
  return out;
}

std::string text_fleet(const Fleet& fleet) {
  std::string out;
  char line[256];
  const auto columns = [&](const std::string& pid, const std::string& comm, const std::string& mode,
                           const std::string& source, const std::string& pool, const std::string& locked,
                           const std::string& mappings, const std::string& verdict) {
    std::snprintf(line, sizeof line, "%7s  %-15s  %-7s  %-9s  %-11s  %-21s  %-13s  ", pid.c_str(), comm.c_str(),
                  mode.c_str(), source.c_str(), pool.c_str(), locked.c_str(), mappings.c_str());
    out += line + verdict + "\n";
  };
  if (!fleet.examined.empty()) {
    columns("PID", "COMMAND", "MODE", "SOURCE", "POOL", "LOCKED/MEMLOCK", "MAPPINGS", "VERDICT");
  }
  for (const Examination& process : fleet.examined) {
    std::string verdict = process.ok() ? "OK" : "FAIL:";
    for (std::size_t i = 0; i < process.problems.size(); ++i) {
      verdict += (i == 0 ? " " : "; ") + printable(process.problems[i]);
    }
    columns(process.pid, printable(process.comm), printable(process.kind()), process.source(),
            process.pool_found ? size_text(process.pool_resident_bytes) : "none",
            size_text(process.locked_bytes) + "/" + memlock_limit_text(process),
            std::to_string(process.mappings) + "/" + std::to_string(process.max_map_count), verdict);
  }
  const unsigned long failed = fleet.failed();
  out += "secbits-audit: " + std::to_string(fleet.examined.size()) + " processes examined, " +
         std::to_string(fleet.examined.size() - failed) + " OK, " + std::to_string(failed) + " FAIL; " +
         std::to_string(fleet.skipped()) + " skipped (" + std::to_string(fleet.skipped_unreadable) +
         " could not be read, " + std::to_string(fleet.skipped_exited) + " exited while read)\n";
  return out;
}

}  // namespace secbits::audit
