#pragma once

#include <cstddef>

// The C allocation rules, written once, for the C API and the interposer:
// errno on failure, overflow checks, realloc(p, 0), C17 aligned_alloc.
namespace secbits::pool {

void* c_malloc(std::size_t size) noexcept;
/// count * size overflowing is ENOMEM. Blocks always start zeroed (every
/// block is wiped when freed), so there is nothing to clear.
void* c_calloc(std::size_t count, std::size_t size) noexcept;
/// realloc(p, 0) frees p and returns null, as glibc does; realloc(null, n) is
/// malloc(n). On failure: null, ENOMEM, the old block untouched.
void* c_realloc(void* pointer, std::size_t size) noexcept;
/// C17: an alignment of 0 or not a power of two is EINVAL; no size rule.
void* c_aligned_alloc(std::size_t alignment, std::size_t size) noexcept;
/// count * size overflowing is ENOMEM.
void* c_reallocarray(void* pointer, std::size_t count, std::size_t size) noexcept;
/// The alignment must be a power of two and a multiple of sizeof(void*):
/// otherwise returns EINVAL; out of memory returns ENOMEM. *result is only
/// written on success.
int c_posix_memalign(void** result, std::size_t alignment, std::size_t size) noexcept;
/// Not covered by C17; like glibc, an alignment that is not a power of two is
/// rounded up to the next one.
void* c_memalign(std::size_t alignment, std::size_t size) noexcept;
/// Page-aligned.
void* c_valloc(std::size_t size) noexcept;
/// Page-aligned, size rounded up to whole pages (0 gives one page).
void* c_pvalloc(std::size_t size) noexcept;
/// Keeps errno.
void c_free(void* pointer) noexcept;
std::size_t c_usable_size(const void* pointer) noexcept;

}  // namespace secbits::pool
