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
/// Keeps errno.
void c_free(void* pointer) noexcept;
std::size_t c_usable_size(const void* pointer) noexcept;

}  // namespace secbits::pool
