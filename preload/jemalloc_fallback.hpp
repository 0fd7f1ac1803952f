#pragma once

#include <cstddef>

// Tagged mode's fallback arena: Debian's jemalloc, reached only through the
// names it alone defines (mallocx, dallocx, rallocx, sallocx): its plain
// malloc is shadowed by ours, and dlsym(RTLD_NEXT, "malloc") finds glibc's.
// The only file that includes <jemalloc/jemalloc.h>.
namespace secbits::preload::fallback {

/// Null with errno ENOMEM on failure (jemalloc promises no errno).
void* allocate(std::size_t size, std::size_t alignment, bool zeroed) noexcept;
/// Null with errno ENOMEM on failure; the old block is then untouched.
void* reallocate(void* pointer, std::size_t size) noexcept;
void release(void* pointer) noexcept;
std::size_t usable_size(const void* pointer) noexcept;
/// Bytes jemalloc has handed out and not had back (its stats.allocated).
std::size_t bytes_in_use() noexcept;

}  // namespace secbits::preload::fallback
