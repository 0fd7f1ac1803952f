#pragma once

#include <cstddef>

// What the kernel says about this process, read from /proc without
// allocating, so that allocator paths may ask.
namespace secbits::os {

/// Mappings (VMAs) of this process that start inside [begin, end).
std::size_t count_mappings_in(const void* begin, const void* end) noexcept;

/// The soft RLIMIT_AS in bytes; SIZE_MAX when unlimited.
std::size_t address_space_limit() noexcept;

/// vm.max_map_count: how many mappings the kernel allows a process; the
/// kernel's default when it cannot be read.
std::size_t max_map_count() noexcept;

/// Leaves a one-page mapping whose name in /proc/PID/maps is
/// "/memfd:<label>:<begin>-<end> (deleted)", so that a tool outside the
/// process (secbits-audit) can find the range without the process's help.
/// Best effort: a sandbox that forbids memfd_create just gets no marker.
void publish_range(const char* label, const void* begin, const void* end) noexcept;

}  // namespace secbits::os
