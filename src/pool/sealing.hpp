#pragma once

#include <cstddef>

// Sealing (mseal, Linux 6.10+) of the pool's own mappings whose layout must
// never change behind its back: the slab table, the large-block records, the
// thread heaps, the regions' registries, and the page holding the canary
// secret. A program bug or an attacker with an arbitrary munmap or mprotect
// can then neither unmap them (for a later mapping to land there with
// contents of its choosing) nor reprotect them. On older kernels nothing is
// sealed and the pool says so when asked; everything else works the same.
namespace secbits::pool {

/// Seals a mapping the pool keeps until the process ends. After the first
/// ENOSYS it never asks the kernel again.
void seal_for_life(void* base, std::size_t bytes) noexcept;

/// Makes `bytes` at `page` read-only, then seals them: the contents can
/// change no more than the layout. False if they stay writable.
bool seal_read_only(void* page, std::size_t bytes) noexcept;

/// Mappings sealed so far; -1 where the kernel has no mseal.
long sealed_mappings() noexcept;

}  // namespace secbits::pool
