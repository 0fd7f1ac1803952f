#pragma once

#include <cstddef>

// Tagged mode's fallback arena: Debian's jemalloc. Its plain malloc, calloc,
// realloc, free and operator new are shadowed by ours, and
// dlsym(RTLD_NEXT, "malloc") finds glibc's: bind_fast_paths finds jemalloc's
// own in its library. Until then, and if binding fails, stand-ins over the
// names it alone defines (mallocx, dallocx, rallocx) serve. The only file
// that includes <jemalloc/jemalloc.h> is jemalloc_fallback.cpp.
namespace secbits::preload::fallback {

using MallocFunction = void* (*)(std::size_t) noexcept;
using CallocFunction = void* (*)(std::size_t, std::size_t) noexcept;
using ReallocFunction = void* (*)(void*, std::size_t) noexcept;
using FreeFunction = void (*)(void*) noexcept;
using NewFunction = void* (*)(std::size_t);

/// Never null: the allocations set errno ENOMEM on failure (jemalloc's own
/// do), realloc takes a non-null block of jemalloc's and a non-zero size and
/// leaves the block untouched on failure, new throws std::bad_alloc after
/// the new-handler loop, as operator new does.
struct PlainCalls {
  MallocFunction malloc;
  CallocFunction calloc;
  ReallocFunction realloc;
  NewFunction new_;
};
/// jemalloc's own calls once bind_fast_paths has found them, else the stand-ins.
PlainCalls plain_calls() noexcept;

/// Null with errno ENOMEM on failure.
void* allocate(std::size_t size, std::size_t alignment, bool zeroed) noexcept;
/// Null or jemalloc's; keeps errno, as free must.
void release(void* pointer) noexcept;
std::size_t usable_size(const void* pointer) noexcept;
/// Binds jemalloc's own malloc, calloc, realloc, free and operator new: their
/// tcache fast paths take a fraction of the instructions of mallocx and its
/// kin, which go through jemalloc's general path. Called once from the
/// interposer's constructor (dlopen and dlsym are never called on an
/// allocation path).
void bind_fast_paths() noexcept;

/// Bytes jemalloc has handed out and not had back (its stats.allocated).
std::size_t bytes_in_use() noexcept;

}  // namespace secbits::preload::fallback
