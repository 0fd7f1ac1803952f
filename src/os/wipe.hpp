#pragma once

#include <cstddef>
#include <cstring>

namespace secbits::os {

/// Zeroes `size` bytes in a way the optimiser may not remove, even when the
/// memory is never read again (a plain memset before free or munmap is a dead
/// store the compiler is allowed to delete).
inline void secure_wipe(void* data, std::size_t size) noexcept {
  std::memset(data, 0, size);
  // The compiler must assume the asm reads every byte `data` points to, so
  // the memset above is not a dead store it may drop. (explicit_bzero does the
  // same, at the price of a second call on the allocator's free path.)
  asm volatile("" : : "r"(data) : "memory");
}

}  // namespace secbits::os
