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
#include <string>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "common/proc_smaps.hpp"

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

secbits::tools::Mapping region_of(const void* address) {
  std::ifstream smaps("/proc/self/smaps");
  for (const auto& mapping : secbits::tools::parse_smaps(smaps)) {
    if (mapping.contains(reinterpret_cast<unsigned long>(address))) return mapping;
  }
  return {};
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
  const secbits::tools::Mapping region = region_of(where);
  std::cout << "1. Where the secret lives (/proc/self/smaps of this process):\n"
            << "   region " << std::hex << region.start << "-" << region.end << std::dec << ", access at rest '"
            << region.permissions << "'\n"
            << "   locked in RAM, never swapped (lo):    " << yes_no(region.has("lo")) << "  (Locked "
            << region.locked_kb << " kB of Rss " << region.rss_kb << " kB)\n"
            << "   left out of core dumps (dd):         " << yes_no(region.has("dd")) << "\n"
            << "   zero-filled in a forked child (wf):  " << yes_no(region.has("wf")) << "\n";

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
