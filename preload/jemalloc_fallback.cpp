#include "preload/jemalloc_fallback.hpp"

#include <atomic>
#include <cerrno>
#include <dlfcn.h>
#include <cstdint>
#include <jemalloc/jemalloc.h>

#include "preload/errno_keeper.hpp"
#include "preload/new_handler_loop.hpp"

namespace secbits::preload::fallback {

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

void* malloc_by_mallocx(std::size_t size) noexcept { return allocate(size, 0, false); }

void* calloc_by_mallocx(std::size_t count, std::size_t size) noexcept {
  std::size_t total = 0;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return allocate(total, 0, true);
}

void* realloc_by_rallocx(void* pointer, std::size_t size) noexcept {
  void* block = ::rallocx(pointer, at_least_one(size), 0);
  if (block == nullptr) errno = ENOMEM;
  return block;
}

void free_by_dallocx(void* pointer) noexcept {
  if (pointer != nullptr) ::dallocx(pointer, 0);
}

void* new_by_mallocx(std::size_t size) {
  if (void* block = allocate(size, 0, false)) return block;
  return retry_through_new_handler([=] { return allocate(size, 0, false); });
}

// Written by bind_fast_paths, from the constructor, before the program's
// threads; read when the route is set and on every free.
constinit PlainCalls g_found{malloc_by_mallocx, calloc_by_mallocx, realloc_by_rallocx, new_by_mallocx};
constinit std::atomic<FreeFunction> g_free{free_by_dallocx};

template <class Function>
void bind(void* library, const char* name, Function& call) noexcept {
  if (void* found = ::dlsym(library, name)) call = reinterpret_cast<Function>(found);
}

}  // namespace

PlainCalls plain_calls() noexcept { return g_found; }

void* allocate(std::size_t size, std::size_t alignment, bool zeroed) noexcept {
  void* block = ::mallocx(at_least_one(size), flags_for(alignment, zeroed));
  if (block == nullptr) errno = ENOMEM;
  return block;
}

// jemalloc's free keeps errno on its fast path only: its slow path may purge
// pages (madvise, munmap) and leave their errno behind (kept upstream only
// after 5.3.0, jemalloc/jemalloc#2906). Only reached once the route is set
// (ErrnoKeeper).
void release(void* pointer) noexcept {
  ErrnoKeeper keep;
  g_free.load(std::memory_order_relaxed)(pointer);
}

void bind_fast_paths() noexcept {
  void* library = ::dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_NOLOAD);
  if (library == nullptr) return;
  bind(library, "malloc", g_found.malloc);
  bind(library, "calloc", g_found.calloc);
  bind(library, "realloc", g_found.realloc);
  bind(library, "_Znwm", g_found.new_);
  FreeFunction free = g_free.load(std::memory_order_relaxed);
  bind(library, "free", free);
  g_free.store(free, std::memory_order_relaxed);
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
