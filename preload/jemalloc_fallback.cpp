#include "preload/jemalloc_fallback.hpp"

#include <atomic>
#include <cerrno>
#include <dlfcn.h>
#include <cstdint>
#include <jemalloc/jemalloc.h>

#include "os/diagnostics.hpp"

namespace secbits::preload::fallback {

constinit std::atomic<MallocFunction> g_fast_malloc{nullptr};
constinit std::atomic<FreeFunction> g_fast_free{nullptr};

namespace {

// mallocx and rallocx are undefined for size 0; malloc(0) must still return
// a unique pointer.
std::size_t at_least_one(std::size_t size) noexcept { return size == 0 ? 1 : size; }

// An explicit alignment is always passed on: jemalloc aligns a block of 8
// bytes or less to 8 only, so posix_memalign(&p, 16, 8) would not hold.
int flags_for(std::size_t alignment, bool zeroed) noexcept {
  int flags = zeroed ? MALLOCX_ZERO : 0;
  if (alignment != 0) flags |= MALLOCX_ALIGN(alignment);
  return flags;
}

}  // namespace

void* allocate(std::size_t size, std::size_t alignment, bool zeroed) noexcept {
  void* block = ::mallocx(at_least_one(size), flags_for(alignment, zeroed));
  if (block == nullptr) errno = ENOMEM;
  return block;
}

void* reallocate(void* pointer, std::size_t size) noexcept {
  void* block = ::rallocx(pointer, at_least_one(size), 0);
  if (block == nullptr) errno = ENOMEM;
  return block;
}

void release_slow(void* pointer) noexcept {
  os::ErrnoGuard keep;
  ::dallocx(pointer, 0);
}

void bind_fast_paths() noexcept {
  void* library = ::dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_NOLOAD);
  if (library == nullptr) return;
  auto* plain_malloc = reinterpret_cast<MallocFunction>(::dlsym(library, "malloc"));
  auto* plain_free = reinterpret_cast<FreeFunction>(::dlsym(library, "free"));
  // Both or neither: a block from one path may be freed by the other, which
  // is fine only because both are jemalloc's.
  if (plain_malloc == nullptr || plain_free == nullptr) return;
  g_fast_free.store(plain_free, std::memory_order_relaxed);
  g_fast_malloc.store(plain_malloc, std::memory_order_relaxed);
}

std::size_t usable_size(const void* pointer) noexcept { return ::sallocx(pointer, 0); }

std::size_t bytes_in_use() noexcept {
  std::uint64_t epoch = 1;
  std::size_t length = sizeof epoch;
  // jemalloc's statistics are a snapshot refreshed by writing "epoch".
  if (::mallctl("epoch", &epoch, &length, &epoch, length) != 0) return 0;
  std::size_t allocated = 0;
  length = sizeof allocated;
  if (::mallctl("stats.allocated", &allocated, &length, nullptr, 0) != 0) return 0;
  return allocated;
}

}  // namespace secbits::preload::fallback
