#pragma once

#include <bit>
#include <cerrno>
#include <cstddef>

#include "pool/layout.hpp"

// The C allocation rules, written once over any heap: errno on failure,
// overflow checks, realloc(p, 0), C17 aligned_alloc, glibc's lenient
// memalign. The library's C API uses them over the pool; the interposer over
// its router, which may send a call to the pool or to jemalloc.
//
// A Heap provides, all noexcept, null with errno ENOMEM on failure:
//   allocate(size), allocate_zeroed(size), allocate_aligned(size, alignment),
//   reallocate(pointer, size)  (pointer non-null, size non-zero; the old
//                               block is untouched on failure),
//   release(pointer)           (null is ignored; keeps errno),
//   usable_size(pointer).
namespace secbits::pool {

template <class Heap>
struct CRules {
  static void* malloc(std::size_t size) noexcept { return Heap::allocate(size); }

  /// count * size overflowing is ENOMEM.
  static void* calloc(std::size_t count, std::size_t size) noexcept {
    std::size_t total = 0;
    if (__builtin_mul_overflow(count, size, &total)) return out_of_memory();
    return Heap::allocate_zeroed(total);
  }

  /// realloc(p, 0) frees p and returns null, as glibc does (grep and sed
  /// rely on realloc(NULL, 0) != NULL); realloc(NULL, n) is malloc(n).
  [[gnu::always_inline]] static void* realloc(void* pointer, std::size_t size) noexcept {
    if (pointer == nullptr) return Heap::allocate(size);
    if (size == 0) return free_for_zero_size(pointer);
    return Heap::reallocate(pointer, size);
  }

  static void* reallocarray(void* pointer, std::size_t count, std::size_t size) noexcept {
    std::size_t total = 0;
    if (__builtin_mul_overflow(count, size, &total)) return out_of_memory();
    return realloc(pointer, total);
  }

  /// The alignment must be a power of two and a multiple of sizeof(void*):
  /// otherwise EINVAL, returned, with *result and errno untouched.
  static int posix_memalign(void** result, std::size_t alignment, std::size_t size) noexcept {
    if (!std::has_single_bit(alignment) || alignment % sizeof(void*) != 0) return EINVAL;
    void* block = Heap::allocate_aligned(size, alignment);
    if (block == nullptr) return errno = ENOMEM;  // glibc sets errno too
    *result = block;
    return 0;
  }

  /// C17: an alignment of 0 or not a power of two is EINVAL; no size rule.
  static void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
    if (!std::has_single_bit(alignment)) {
      errno = EINVAL;
      return nullptr;
    }
    return Heap::allocate_aligned(size, alignment);
  }

  /// Not covered by C17; like glibc, an alignment that is not a power of two
  /// is rounded up to the next one, and one above 2^63, which cannot be, is
  /// EINVAL.
  static void* memalign(std::size_t alignment, std::size_t size) noexcept {
    if (alignment > (std::size_t{1} << 63)) {
      errno = EINVAL;
      return nullptr;
    }
    return Heap::allocate_aligned(size, std::bit_ceil(alignment));
  }

  static void* valloc(std::size_t size) noexcept { return Heap::allocate_aligned(size, kPageSize); }

  /// Page-aligned, the size rounded up to whole pages (0 gives one page).
  static void* pvalloc(std::size_t size) noexcept {
    std::size_t rounded = 0;
    if (__builtin_add_overflow(size, kPageSize - 1, &rounded)) return out_of_memory();
    rounded &= ~(kPageSize - 1);
    return Heap::allocate_aligned(rounded == 0 ? kPageSize : rounded, kPageSize);
  }

  static void free(void* pointer) noexcept { Heap::release(pointer); }

  static std::size_t usable_size(const void* pointer) noexcept {
    return pointer == nullptr ? 0 : Heap::usable_size(pointer);
  }

 private:
  /// realloc(p, 0). Out of line: a free that returns is a call that is not
  /// the last, and inline it would make every realloc save registers.
  [[gnu::noinline]] static void* free_for_zero_size(void* pointer) noexcept {
    Heap::release(pointer);
    return nullptr;
  }
  static void* out_of_memory() noexcept {
    errno = ENOMEM;
    return nullptr;
  }
};

}  // namespace secbits::pool
