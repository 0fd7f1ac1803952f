#include "support/smaps.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

namespace secbits::test {

namespace {

bool parse_range(const std::string& line, std::uintptr_t* start, std::uintptr_t* end, std::string* perms) {
  std::istringstream in(line);
  std::string range;
  if (!(in >> range >> *perms)) return false;
  const auto dash = range.find('-');
  if (dash == std::string::npos || range.find(':') != std::string::npos) return false;
  try {
    *start = std::stoull(range.substr(0, dash), nullptr, 16);
    *end = std::stoull(range.substr(dash + 1), nullptr, 16);
  } catch (...) {
    return false;
  }
  return true;
}

/// The path column of a header line: what follows offset, device and inode.
std::string path_of(const std::string& line) {
  std::istringstream in(line);
  std::string skipped;
  for (int column = 0; column < 5; ++column) in >> skipped;
  std::string rest;
  std::getline(in, rest);
  const auto first = rest.find_first_not_of(' ');
  return first == std::string::npos ? std::string() : rest.substr(first);
}

std::size_t kb_field(const std::string& line) {
  std::istringstream in(line);
  std::string name;
  std::size_t value = 0;
  in >> name >> value;
  return value;
}

/// Reads one field line of a mapping's block into `mapping`.
void apply_field(const std::string& line, Mapping& mapping) {
  if (line.rfind("Rss:", 0) == 0) mapping.rss_kb = kb_field(line);
  else if (line.rfind("Locked:", 0) == 0) mapping.locked_kb = kb_field(line);
  else if (line.rfind("Private_Dirty:", 0) == 0) mapping.private_dirty_kb = kb_field(line);
  else if (line.rfind("VmFlags:", 0) == 0) {
    std::istringstream in(line.substr(8));
    for (std::string flag; in >> flag;) mapping.flags.insert(flag);
  }
}

/// Every mapping of one smaps file, in address order, each with its path.
std::vector<Mapping> all_mappings_in(const std::string& smaps_path) {
  std::ifstream smaps(smaps_path);
  std::vector<Mapping> mappings;
  std::string line;
  while (std::getline(smaps, line)) {
    Mapping header;
    if (parse_range(line, &header.start, &header.end, &header.permissions)) {
      header.path = path_of(line);
      mappings.push_back(header);
      continue;
    }
    if (!mappings.empty()) apply_field(line, mappings.back());
  }
  return mappings;
}

}  // namespace

std::optional<Mapping> mapping_containing(const void* address) {
  const auto target = reinterpret_cast<std::uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  std::optional<Mapping> current;
  std::string line;
  while (std::getline(smaps, line)) {
    Mapping header;
    if (parse_range(line, &header.start, &header.end, &header.permissions)) {
      if (current) return current;
      if (target >= header.start && target < header.end) {
        current = header;
        current->path = path_of(line);
      }
      continue;
    }
    if (current) apply_field(line, *current);
  }
  return current;
}

std::vector<Mapping> all_mappings() { return all_mappings_in("/proc/self/smaps"); }

std::vector<Mapping> all_mappings_of(pid_t pid) { return all_mappings_in("/proc/" + std::to_string(pid) + "/smaps"); }

const Mapping* find_mapping(const std::vector<Mapping>& mappings, const void* address) {
  const auto target = reinterpret_cast<std::uintptr_t>(address);
  const auto after = std::upper_bound(mappings.begin(), mappings.end(), target,
                                      [](std::uintptr_t at, const Mapping& mapping) { return at < mapping.start; });
  if (after == mappings.begin()) return nullptr;
  const Mapping& candidate = *(after - 1);
  return target < candidate.end ? &candidate : nullptr;
}

std::size_t mapping_count() {
  std::ifstream maps("/proc/self/maps");
  std::size_t count = 0;
  for (std::string line; std::getline(maps, line);) ++count;
  return count;
}

std::vector<std::pair<std::uintptr_t, std::uintptr_t>> mapping_ranges() {
  std::ifstream maps("/proc/self/maps");
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> ranges;
  std::uintptr_t start = 0;
  std::uintptr_t end = 0;
  std::string permissions;
  for (std::string line; std::getline(maps, line);) {
    if (parse_range(line, &start, &end, &permissions)) ranges.emplace_back(start, end);
  }
  return ranges;
}

}  // namespace secbits::test
