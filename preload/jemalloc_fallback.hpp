#pragma once

#include <atomic>
#include <cstddef>

#include "os/diagnostics.hpp"

// Tagged mode's fallback arena: Debian's jemalloc, reached only through the
// names it alone defines (mallocx, dallocx, rallocx, sallocx): its plain
// malloc is shadowed by ours, and dlsym(RTLD_NEXT, "malloc") finds glibc's.
// The only file that includes <jemalloc/jemalloc.h>.
namespace secbits::preload::fallback {

using MallocFunction = void* (*)(std::size_t);
using FreeFunction = void (*)(void*);
/// jemalloc's own malloc and free, once bind_fast_paths has found them.
extern constinit std::atomic<MallocFunction> g_fast_malloc;
extern constinit std::atomic<FreeFunction> g_fast_free;

/// Null with errno ENOMEM on failure (jemalloc promises no errno).
void* allocate(std::size_t size, std::size_t alignment, bool zeroed) noexcept;
/// The common case, inline: default alignment, not zeroed.
inline void* allocate_plain(std::size_t size) noexcept {
  if (const MallocFunction plain = g_fast_malloc.load(std::memory_order_relaxed)) [[likely]] return plain(size);
  return allocate(size, 0, false);
}
/// Null with errno ENOMEM on failure; the old block is then untouched.
void* reallocate(void* pointer, std::size_t size) noexcept;
void release_slow(void* pointer) noexcept;
/// Keeps errno, as free must.
inline void release(void* pointer) noexcept {
  if (const FreeFunction plain = g_fast_free.load(std::memory_order_relaxed)) [[likely]] {
    os::ErrnoGuard keep;
    plain(pointer);
    return;
  }
  release_slow(pointer);
}
std::size_t usable_size(const void* pointer) noexcept;
/// Binds jemalloc's own malloc and free, found in its library by dlsym: its
/// tcache fast paths are about twice as fast as mallocx/dallocx, which take
/// jemalloc's general path. Called once from the interposer's constructor
/// (dlopen and dlsym are never called on an allocation path); until then,
/// and if binding fails, the *allocx calls serve.
void bind_fast_paths() noexcept;

/// Bytes jemalloc has handed out and not had back (its stats.allocated).
std::size_t bytes_in_use() noexcept;

}  // namespace secbits::preload::fallback
