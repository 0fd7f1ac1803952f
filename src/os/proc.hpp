#pragma once

#include <cstddef>

// What the kernel says about this process, read from /proc without
// allocating, so that allocator paths may ask.
namespace secbits::os {

/// Mappings (VMAs) of this process that start inside [begin, end).
std::size_t count_mappings_in(const void* begin, const void* end) noexcept;

/// vm.max_map_count: how many mappings the kernel allows a process; the
/// kernel's default when it cannot be read.
std::size_t max_map_count() noexcept;

}  // namespace secbits::os
