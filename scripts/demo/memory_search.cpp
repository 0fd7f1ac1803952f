// Looks for a string in the whole memory of a running process, through
// /proc/PID/mem: every mapping with resident pages, readable or not (root
// reads PROT_NONE pages too). Usage: memory_search PID STRING. Prints where
// it was found; exit 0 if found, 1 if not, 2 on error.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "common/proc_smaps.hpp"

namespace {

using secbits::tools::Mapping;

std::vector<Mapping> resident_mappings(const std::string& pid) {
  std::ifstream smaps("/proc/" + pid + "/smaps");
  std::vector<Mapping> mappings = secbits::tools::parse_smaps(smaps);
  // Untouched address space holds nothing, and reading it would make the
  // kernel fault in zero pages for nothing (the pool reserves many GiB).
  std::erase_if(mappings, [](const Mapping& m) {
    return m.rss_kb == 0 || m.name == "[vvar]" || m.name == "[vvar_vclock]" || m.name == "[vsyscall]";
  });
  return mappings;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || argv[2][0] == '\0') {
    std::fprintf(stderr, "usage: %s PID STRING\n", argv[0]);
    return 2;
  }
  const std::string pid = argv[1];
  const std::string needle = argv[2];
  const int mem = ::open(("/proc/" + pid + "/mem").c_str(), O_RDONLY);
  if (mem < 0) {
    std::perror(("/proc/" + pid + "/mem").c_str());
    return 2;
  }
  constexpr unsigned long kChunk = 16ul << 20;
  std::vector<char> buffer(kChunk + needle.size());
  int found = 0;
  for (const Mapping& mapping : resident_mappings(pid)) {
    // Chunks overlap by the needle's length, so no match falls between two.
    for (unsigned long at = mapping.start; at < mapping.end; at += kChunk) {
      const unsigned long length = std::min(mapping.end - at, kChunk + needle.size() - 1);
      const ssize_t got = ::pread(mem, buffer.data(), length, static_cast<off_t>(at));
      if (got <= 0) break;
      const char* end = buffer.data() + got;
      for (const char* hit = buffer.data();
           (hit = static_cast<const char*>(::memmem(hit, static_cast<std::size_t>(end - hit), needle.data(),
                                                    needle.size()))) != nullptr;
           ++hit) {
        if (static_cast<unsigned long>(hit - buffer.data()) >= kChunk) break;  // the next chunk reports it
        std::printf("%lx in %lx-%lx %s\n", at + static_cast<unsigned long>(hit - buffer.data()), mapping.start,
                    mapping.end, mapping.name.empty() ? "(anonymous)" : mapping.name.c_str());
        found = 1;
      }
    }
  }
  ::close(mem);
  return found ? 0 : 1;
}
