#pragma once

#include <cstddef>

#include "pool/c_rules.hpp"
#include "pool/pool.hpp"

namespace secbits::pool {

/// The secure pool as a Heap for CRules.
struct PoolHeap {
  static void* allocate(std::size_t size) noexcept { return pool::allocate(size); }
  static void* allocate_zeroed(std::size_t size) noexcept { return pool::allocate_zeroed(size); }
  static void* allocate_aligned(std::size_t size, std::size_t alignment) noexcept {
    return pool::allocate_aligned(size, alignment);
  }
  static void* reallocate(void* pointer, std::size_t size) noexcept { return pool::reallocate(pointer, size); }
  static void release(void* pointer) noexcept { pool::deallocate(pointer); }
  static std::size_t usable_size(const void* pointer) noexcept { return pool::usable_size(pointer); }
};

using PoolC = CRules<PoolHeap>;

}  // namespace secbits::pool
