#pragma once

#include <cstdint>

#include "pool/slab.hpp"

// Blocks of malloc(0) from hardening level 1: each a unique address in a
// slot of the small zone whose pages are never committed, so that any read or
// write of one faults, as hardened_malloc's do, instead of reaching a
// neighbour. They cost no memory and no mapping: the slot stays part of the
// reservation.
namespace secbits::pool {

/// A fresh zero-size block; null with errno ENOMEM when the small zone has no
/// slot left.
void* allocate_zero_size() noexcept;

/// Frees block `index` of a zero-size slab (already checked live).
void free_zero_size(Slab& slab, std::uint32_t index) noexcept;

}  // namespace secbits::pool
