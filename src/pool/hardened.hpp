#pragma once

#include <cstddef>

#include "pool/heap.hpp"
#include "pool/slab.hpp"

// The pool's paths at hardening level 2 and up, beside the plain ones of
// pool.hpp: checks on every small block handed out (still zero) and freed
// (canary), and the per-thread quarantine between a free and a reuse.
namespace secbits::pool {

/// Level 3: aborts naming the block unless its canary is intact (or the pool
/// was purged, which wiped it).
void check_canary(const Slab& slab, const void* block) noexcept;

/// Returns every quarantined block of the heap to its slab (thread exit,
/// collect).
void flush_quarantine(ThreadHeap& heap) noexcept;

/// The plain allocation slow path, which the hardened one finishes.
void* allocate_from_pool(std::size_t size, std::size_t alignment) noexcept;

}  // namespace secbits::pool
