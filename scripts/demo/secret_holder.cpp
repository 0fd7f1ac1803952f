// The demo's program: keeps one password in a secbits::SecBytes and another
// in an ordinary heap string, then shows what the kernel says about each.
// It reads both passwords from stdin (one per line) with read(2), so no stdio
// buffer ever holds a copy, and waits for a line on stdin before exiting so
// that the driver can take a core file of it while it runs.
#include <secbits/secbits.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

// One line from fd 0 into `line`, byte by byte so nothing is read ahead.
bool read_line(std::vector<unsigned char>& line) {
  line.clear();
  unsigned char c;
  while (::read(STDIN_FILENO, &c, 1) == 1) {
    if (c == '\n') return true;
    line.push_back(c);
  }
  return !line.empty();
}

struct Region {
  std::string range, permissions, flags;
  long rss_kb = 0, locked_kb = 0;
};

Region region_of(const void* address) {
  const auto target = reinterpret_cast<unsigned long>(address);
  std::ifstream smaps("/proc/self/smaps");
  Region region;
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    std::istringstream in(line);
    std::string first;
    in >> first;
    const auto dash = first.find('-');
    if (dash != std::string::npos && first.find(':') == std::string::npos) {
      if (inside) break;
      const unsigned long start = std::stoul(first.substr(0, dash), nullptr, 16);
      const unsigned long end = std::stoul(first.substr(dash + 1), nullptr, 16);
      inside = target >= start && target < end;
      if (inside) {
        region.range = first;
        in >> region.permissions;
      }
    } else if (inside && first == "Rss:") {
      in >> region.rss_kb;
    } else if (inside && first == "Locked:") {
      in >> region.locked_kb;
    } else if (inside && first == "VmFlags:") {
      std::getline(in, region.flags);
    }
  }
  return region;
}

bool has_flag(const Region& region, const std::string& flag) {
  std::istringstream in(region.flags);
  for (std::string f; in >> f;)
    if (f == flag) return true;
  return false;
}

const char* yes_no(bool value) { return value ? "yes" : "NO"; }

}  // namespace

int main() {
  std::vector<unsigned char> input;
  input.reserve(256);
  if (!read_line(input)) return 2;
  secbits::SecBytes secret;
  secret.append(input);  // copies, then wipes `input`

  std::vector<unsigned char> plain_input;
  if (!read_line(plain_input)) return 2;
  auto* plain = new std::string(plain_input.begin(), plain_input.end());

  const std::byte* where = secret.read().data();
  const Region region = region_of(where);
  std::cout << "1. Where the secret lives (/proc/self/smaps of this process):\n"
            << "   region " << region.range << ", access at rest '" << region.permissions << "'\n"
            << "   locked in RAM, never swapped (lo):    " << yes_no(has_flag(region, "lo")) << "  (Locked "
            << region.locked_kb << " kB of Rss " << region.rss_kb << " kB)\n"
            << "   left out of core dumps (dd):         " << yes_no(has_flag(region, "dd")) << "\n"
            << "   zero-filled in a forked child (wf):  " << yes_no(has_flag(region, "wf")) << "\n";

  std::cout << "2. Touching the secret while no view is open:\n" << std::flush;
  const pid_t child = ::fork();
  if (child == 0) {
    std::signal(SIGSEGV, SIG_DFL);
    const volatile std::byte first = *where;
    (void)first;
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  if (WIFSIGNALED(status)) {
    std::cout << "   a forked child read one byte of it and was killed by the kernel: " << ::strsignal(WTERMSIG(status))
              << "\n";
  } else {
    std::cout << "   a forked child read one byte of it and was NOT stopped\n";
  }
  {
    auto view = secret.read();
    std::cout << "   with a read view open the program reads its " << view.size()
              << "-byte secret normally; the view closes it again\n";
  }
  std::cout << "3. The other password sits in an ordinary std::string on the heap (" << plain->size()
            << " bytes), as in most programs.\n"
            << "READY " << ::getpid() << std::endl;

  std::vector<unsigned char> done;
  read_line(done);
  delete plain;
  return 0;
}
