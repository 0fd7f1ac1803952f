#pragma once

// /proc/PID/smaps as a list of mappings, for the project's small tools
// (secbits-audit, the demo's programs). Header-only: they link nothing.

#include <charconv>
#include <istream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace secbits::tools {

struct Mapping {
  unsigned long start = 0;
  unsigned long end = 0;
  std::string permissions;  // "rw-p", "---p", ...
  std::string name;         // path, [heap], /memfd:..., or empty
  unsigned long rss_kb = 0;
  unsigned long locked_kb = 0;
  std::set<std::string> flags;  // VmFlags: "lo", "dd", "wf", ...

  bool has(const std::string& flag) const { return flags.count(flag) != 0; }
  bool contains(unsigned long address) const { return address >= start && address < end; }
};

// from_chars, not stoul: text a tool does not expect must never throw out of it.
inline unsigned long parse_hex_or_zero(const std::string& text) {
  unsigned long value = 0;
  (void)std::from_chars(text.data(), text.data() + text.size(), value, 16);
  return value;
}

inline std::vector<Mapping> parse_smaps(std::istream& smaps) {
  std::vector<Mapping> mappings;
  for (std::string line; std::getline(smaps, line);) {
    std::istringstream in(line);
    std::string first;
    in >> first;
    const auto dash = first.find('-');
    if (dash != std::string::npos && first.find(':') == std::string::npos) {
      Mapping mapping;
      mapping.start = parse_hex_or_zero(first.substr(0, dash));
      mapping.end = parse_hex_or_zero(first.substr(dash + 1));
      std::string offset, device, inode;
      in >> mapping.permissions >> offset >> device >> inode;
      std::getline(in >> std::ws, mapping.name);
      mappings.push_back(mapping);
    } else if (!mappings.empty()) {
      Mapping& mapping = mappings.back();
      if (first == "Rss:") in >> mapping.rss_kb;
      else if (first == "Locked:") in >> mapping.locked_kb;
      else if (first == "VmFlags:") for (std::string flag; in >> flag;) mapping.flags.insert(flag);
    }
  }
  return mappings;
}

}  // namespace secbits::tools
