// What a forked child sees of the pool's secret pages (SECBITS_SOURCE=secret),
// under the interposer in tagged mode. Secret memory is shared between the
// processes that map it, so without the pool's fork handling a child would
// read its parent's later secrets and write into its parent's secure blocks.
// The child gets zero-filled pages where the parent's secure blocks were (as
// SecMem's MADV_WIPEONFORK), and can still write to and free them; nothing
// either writes afterwards reaches the other. Exit status 0 when every check
// held.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <secbits/secbits.h>

#include "preloaded.hpp"

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "FAILED (pid %d): %s\n", static_cast<int>(::getpid()), what);
    ++failures;
  }
}

/// The name /proc/self/maps gives the mapping that holds `address`.
std::string mapping_name(const void* address) {
  const auto wanted = reinterpret_cast<unsigned long>(address);
  std::FILE* maps = std::fopen("/proc/self/maps", "r");
  if (maps == nullptr) return {};
  char line[512];
  std::string name;
  while (std::fgets(line, sizeof line, maps) != nullptr) {
    unsigned long start = 0;
    unsigned long end = 0;
    int consumed = 0;
    if (std::sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &consumed) < 2) continue;
    if (wanted < start || wanted >= end) continue;
    name = line + consumed;
    break;
  }
  std::fclose(maps);
  return name;
}

bool in_secret_memory(const void* block) {
  const auto mapping = secbits::test::mapping_containing(block);
  return mapping && mapping_name(block).starts_with("/secretmem") && mapping->has_flag("lo") &&
         mapping->has_flag("dd");
}

constexpr char kBefore[] = "written by the parent before fork";
constexpr char kAfter[] = "written by the parent after fork";
constexpr char kChild[] = "written by the child";

}  // namespace

int main() {
  if (!secbits::preload_test::malloc_is_interposed()) return 1;
  auto* small = static_cast<char*>(secbits_malloc(64));
  auto* large = static_cast<char*>(secbits_malloc(1 << 20));
  if (small == nullptr || large == nullptr) return 1;
  std::strcpy(small, kBefore);
  std::strcpy(large, kBefore);
  check(in_secret_memory(small) && in_secret_memory(large), "the blocks lie in /secretmem mappings, lo and dd");

  int go[2];
  int done[2];
  if (::pipe(go) != 0 || ::pipe(done) != 0) return 1;
  const pid_t child = ::fork();
  if (child < 0) return 1;
  if (child == 0) {
    char byte;
    // Wait until the parent has overwritten its blocks.
    if (::read(go[0], &byte, 1) != 1) _exit(1);
    bool zero = true;
    for (int i = 0; i < 64; ++i) zero = zero && small[i] == 0;
    for (int i = 0; i < (1 << 20); ++i) zero = zero && large[i] == 0;
    check(zero, "the child reads zeros where the parent's secure blocks were");
    check(in_secret_memory(small) && in_secret_memory(large), "the child's blocks lie in /secretmem mappings too");
    std::strcpy(small, kChild);
    std::strcpy(large, kChild);
    auto* fresh = static_cast<char*>(secbits_malloc(100));
    check(fresh != nullptr && in_secret_memory(fresh), "the child's new block is secret memory");
    std::strcpy(fresh, kChild);
    secbits_free(fresh);
    secbits_free(small);
    secbits_free(large);
    if (::write(done[1], "x", 1) != 1) _exit(1);
    std::fflush(stderr);
    _exit(failures == 0 ? 0 : 1);
  }
  // At once after fork() returns: the child must not see these.
  std::strcpy(small, kAfter);
  std::strcpy(large, kAfter);
  if (::write(go[1], "x", 1) != 1) return 1;
  char byte;
  if (::read(done[0], &byte, 1) != 1) return 1;
  check(std::strcmp(small, kAfter) == 0 && std::strcmp(large, kAfter) == 0,
        "the parent's blocks hold what the parent wrote, not what the child wrote");
  int status = 0;
  ::waitpid(child, &status, 0);
  check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's checks held");
  secbits_free(small);
  secbits_free(large);
  if (failures == 0) std::printf("secret pages across fork in tagged mode: every check held\n");
  return failures == 0 ? 0 : 1;
}
