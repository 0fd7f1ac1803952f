#include "pool/c_semantics.hpp"

#include <bit>
#include <cerrno>

#include "pool/pool.hpp"

namespace secbits::pool {

void* c_malloc(std::size_t size) noexcept { return allocate(size); }

void* c_calloc(std::size_t count, std::size_t size) noexcept {
  std::size_t total = 0;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return allocate(total);
}

void* c_realloc(void* pointer, std::size_t size) noexcept {
  if (pointer != nullptr && size == 0) {
    c_free(pointer);
    return nullptr;
  }
  return reallocate(pointer, size);
}

void* c_aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  if (!std::has_single_bit(alignment)) {
    errno = EINVAL;
    return nullptr;
  }
  return allocate_aligned(size, alignment);
}

void* c_reallocarray(void* pointer, std::size_t count, std::size_t size) noexcept {
  std::size_t total = 0;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return c_realloc(pointer, total);
}

int c_posix_memalign(void** result, std::size_t alignment, std::size_t size) noexcept {
  if (!std::has_single_bit(alignment) || alignment % sizeof(void*) != 0) return EINVAL;
  void* block = allocate_aligned(size, alignment);
  if (block == nullptr) return ENOMEM;
  *result = block;
  return 0;
}

void* c_memalign(std::size_t alignment, std::size_t size) noexcept {
  if (alignment > (std::size_t{1} << 63)) {
    errno = EINVAL;
    return nullptr;
  }
  return allocate_aligned(size, std::bit_ceil(alignment));
}

void* c_valloc(std::size_t size) noexcept { return allocate_aligned(size, kPageSize); }

void* c_pvalloc(std::size_t size) noexcept {
  std::size_t rounded = 0;
  if (__builtin_add_overflow(size, kPageSize - 1, &rounded)) {
    errno = ENOMEM;
    return nullptr;
  }
  rounded &= ~(kPageSize - 1);
  return allocate_aligned(rounded == 0 ? kPageSize : rounded, kPageSize);
}

// The fast path makes no syscall; the slow paths that may keep errno.
void c_free(void* pointer) noexcept { deallocate(pointer); }

std::size_t c_usable_size(const void* pointer) noexcept { return usable_size(pointer); }

}  // namespace secbits::pool
