// Tagged mode frees jemalloc's blocks with jemalloc's own free, whose slow
// path (Debian's 5.3.0) leaves the errno of a failed purge behind. Run with
// failing_purge_shim.c preloaded first and MALLOC_CONF purging at once, so
// that every free of a large block fails a madvise inside jemalloc: each
// free form must still keep errno, on the main thread and on another (the
// interposer finds errno from the thread pointer).
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <new>
#include <thread>

namespace {

constexpr std::size_t kLarge = std::size_t{1} << 20;
constexpr int kRounds = 20;

template <class Function>
Function resolve(const char* name) {
  return reinterpret_cast<Function>(::dlsym(RTLD_DEFAULT, name));
}

// The process's functions as the dynamic linker resolves them: the
// compiler cannot fold them into builtins.
auto* const c_malloc = resolve<void* (*)(std::size_t)>("malloc");
auto* const c_free = resolve<void (*)(void*)>("free");
auto* const c_free_sized = resolve<void (*)(void*, std::size_t)>("free_sized");
auto* const c_realloc = resolve<void* (*)(void*, std::size_t)>("realloc");

struct FreeForm {
  const char* name;
  bool from_new;
  void (*release)(void* block);
};

const FreeForm kForms[] = {
    {"free", false, [](void* block) { c_free(block); }},
    {"free_sized", false, [](void* block) { c_free_sized(block, kLarge); }},
    {"realloc(p, 0)", false, [](void* block) { (void)c_realloc(block, 0); }},
    {"operator delete", true, [](void* block) { ::operator delete(block); }},
    {"sized operator delete", true, [](void* block) { ::operator delete(block, kLarge); }},
};

/// Frees that changed errno, each form kRounds times.
int changed_errno(const char* thread) {
  int changed = 0;
  for (const FreeForm& form : kForms) {
    for (int round = 0; round < kRounds; ++round) {
      void* block = form.from_new ? ::operator new(kLarge) : c_malloc(kLarge);
      if (block == nullptr) {
        std::printf("%s: no block of %zu bytes for %s\n", thread, kLarge, form.name);
        return 1;
      }
      std::memset(block, 0xa5, kLarge);
      errno = EINTR;
      form.release(block);
      if (errno != EINTR) {
        std::printf("%s: %s changed errno to %s\n", thread, form.name, std::strerror(errno));
        ++changed;
        break;
      }
    }
  }
  return changed;
}

}  // namespace

int main() {
  auto* refused = static_cast<unsigned long*>(::dlsym(RTLD_DEFAULT, "secbits_shim_refused_purges"));
  if (refused == nullptr || c_free_sized == nullptr) {
    std::printf("run with failing_purge_shim and the interposer preloaded\n");
    return 2;
  }
  int changed = changed_errno("main thread");
  std::thread([&] { changed += changed_errno("second thread"); }).join();
  if (*refused == 0) {
    std::printf("jemalloc never purged: set MALLOC_CONF=dirty_decay_ms:0,muzzy_decay_ms:0\n");
    return 2;
  }
  std::printf("%lu purges refused inside free; %d free forms changed errno\n", *refused, changed);
  return changed == 0 ? 0 : 1;
}
