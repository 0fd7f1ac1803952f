// A program's own munlock, munlockall and madvise(MADV_DODUMP), as libsodium
// (sodium_munlock on a heap buffer) or cryptsetup (munlockall) make them,
// must not unlock the pool's pages nor put them back into core dumps; on the
// program's own memory they do what they always do. Runs under the
// interposer; exits 0, or 1 with the first broken expectation.
#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "preloaded.hpp"

namespace {

int broken(const char* why) {
  std::fprintf(stderr, "FAILED: %s\n", why);
  return 1;
}

bool locked(const void* address) {
  const auto mapping = secbits::test::mapping_containing(address);
  return mapping && mapping->has_flag("lo");
}

bool undumpable(const void* address) {
  const auto mapping = secbits::test::mapping_containing(address);
  return mapping && mapping->has_flag("dd");
}

}  // namespace

int main() {
  if (!secbits::preload_test::malloc_is_interposed()) return 2;
  auto* secret = static_cast<char*>(std::malloc(64));
  if (secret == nullptr) return broken("malloc");
  std::memset(secret, 'k', 64);
  if (!secbits::preload_test::in_secure_memory(secret)) return broken("the block is not in secure memory to start with");

  void* own = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (own == MAP_FAILED || ::mlock(own, 4096) != 0 || !locked(own)) return broken("mlock of the program's own page");

  if (::munlock(secret, 64) != 0) return broken("munlock of a pool block failed");
  if (!locked(secret)) return broken("munlock of a pool block unlocked the pool");
  if (::munlock(own, 4096) != 0 || locked(own)) return broken("munlock of the program's own page did not unlock it");

  auto* page = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(secret) & ~std::uintptr_t{4095});
  if (::madvise(page, 4096, MADV_DODUMP) != 0) return broken("madvise(MADV_DODUMP) of a pool page failed");
  if (!undumpable(secret)) return broken("madvise(MADV_DODUMP) put a pool page back into core dumps");
  errno = 0;
  if (::madvise(secret + 1, 64, MADV_DODUMP) != -1 || errno != EINVAL) {
    return broken("madvise of an address off a page boundary is not EINVAL, as the kernel says");
  }
  if (::madvise(own, 4096, MADV_DONTDUMP) != 0 || !undumpable(own) || ::madvise(own, 4096, MADV_DODUMP) != 0 ||
      undumpable(own)) {
    return broken("madvise on the program's own page did not do what it asked");
  }

  if (::mlockall(MCL_CURRENT) != 0 || ::munlockall() != 0) return broken("mlockall/munlockall failed");
  if (!locked(secret)) return broken("munlockall left the pool unlocked");
  if (locked(own)) return broken("munlockall did not unlock the program's own page");
  auto* after = static_cast<char*>(std::malloc(100));
  if (after == nullptr) return broken("malloc after munlockall");
  std::memset(after, 'a', 100);
  if (!secbits::preload_test::in_secure_memory(after)) return broken("a block made after munlockall is not locked");
  std::free(after);
  std::free(secret);
  ::munmap(own, 4096);
  std::puts("the pool stayed locked and undumpable");
  return 0;
}
