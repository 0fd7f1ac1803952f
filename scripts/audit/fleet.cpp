#include "audit/fleet.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <dirent.h>
#include <fnmatch.h>
#include <sstream>
#include <unistd.h>
#include <variant>

#include "audit/proc_files.hpp"

namespace secbits::audit {

namespace {

bool gone(int error) { return error == ENOENT || error == ESRCH; }

std::vector<unsigned long> process_ids() {
  std::vector<unsigned long> pids;
  DIR* const proc = ::opendir("/proc");
  if (proc == nullptr) return pids;
  while (const dirent* entry = ::readdir(proc)) {
    const std::string_view name = entry->d_name;
    unsigned long pid = 0;
    const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (name.empty() || error != std::errc() || end != name.data() + name.size()) continue;
    pids.push_back(pid);
  }
  ::closedir(proc);
  std::sort(pids.begin(), pids.end());
  return pids;
}

}  // namespace

unsigned long Fleet::failed() const {
  return static_cast<unsigned long>(
      std::count_if(examined.begin(), examined.end(), [](const Examination& process) { return !process.ok(); }));
}

bool comm_matches(std::string_view comm, const std::string& pattern) {
  if (pattern.find_first_of("*?[") == std::string::npos) return comm.find(pattern) != std::string_view::npos;
  return ::fnmatch(pattern.c_str(), std::string(comm).c_str(), 0) == 0;
}

Fleet examine_fleet(const std::string& pattern) {
  Fleet fleet;
  const unsigned long self = static_cast<unsigned long>(::getpid());
  for (const unsigned long number : process_ids()) {
    if (number == self) continue;
    const std::string pid = std::to_string(number);
    const std::string proc = "/proc/" + pid;
    // Anyone may read comm: the pattern costs no more than a directory entry.
    if (!pattern.empty()) {
      std::string comm = read_proc_file(proc + "/comm").text;
      if (comm.empty()) continue;  // gone before it was looked at
      if (comm.back() == '\n') comm.pop_back();
      if (!comm_matches(comm, pattern)) continue;
    }
    // maps, not smaps, to choose: smaps walks every page table of every
    // process, and most processes are not secbits's.
    const ProcFile maps = read_proc_file(proc + "/maps");
    if (gone(maps.error)) continue;
    if (maps.error != 0) {
      ++fleet.skipped_unreadable;
      continue;
    }
    std::istringstream maps_stream(maps.text);
    if (!shows_secbits(tools::parse_smaps(maps_stream))) continue;  // kernel threads have no maps at all

    auto outcome = examine(pid);
    if (const auto* failure = std::get_if<Unexaminable>(&outcome)) {
      ++(failure->exited() ? fleet.skipped_exited : fleet.skipped_unreadable);
    } else if (auto& process = std::get<Examination>(outcome); !process.shows_secbits) {
      // The process that showed secbits exited and its PID went to another
      // between the two reads: judging the newcomer would be a false alarm.
      ++fleet.skipped_exited;
    } else if (!pattern.empty() && !comm_matches(process.comm, pattern)) {
      continue;  // it renamed itself, or exec'd, since: not what was asked for
    } else {
      fleet.examined.push_back(std::move(process));
    }
  }
  return fleet;
}

}  // namespace secbits::audit
