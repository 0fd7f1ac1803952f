#pragma once

#include <cstddef>
#include <string.h>

namespace secbits::os {

/// Zeroes `size` bytes in a way the optimiser may not remove, even when the
/// memory is never read again (a plain memset before free or munmap is a dead
/// store the compiler is allowed to delete).
inline void secure_wipe(void* data, std::size_t size) noexcept {
  if (size != 0) ::explicit_bzero(data, size);
}

}  // namespace secbits::os
