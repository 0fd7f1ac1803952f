#include "support/smaps.hpp"

#include <fstream>
#include <sstream>

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

std::size_t kb_field(const std::string& line) {
  std::istringstream in(line);
  std::string name;
  std::size_t value = 0;
  in >> name >> value;
  return value;
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
      if (target >= header.start && target < header.end) current = header;
      continue;
    }
    if (!current) continue;
    if (line.rfind("Rss:", 0) == 0) current->rss_kb = kb_field(line);
    else if (line.rfind("Locked:", 0) == 0) current->locked_kb = kb_field(line);
    else if (line.rfind("VmFlags:", 0) == 0) {
      std::istringstream in(line.substr(8));
      for (std::string flag; in >> flag;) current->flags.insert(flag);
    }
  }
  return current;
}

std::size_t mapping_count() {
  std::ifstream maps("/proc/self/maps");
  std::size_t count = 0;
  for (std::string line; std::getline(maps, line);) ++count;
  return count;
}

}  // namespace secbits::test
