#include "pool/zero_size.hpp"

#include <bit>
#include <cerrno>
#include <mutex>
#include <new>

#include "pool/block_check.hpp"
#include "pool/region.hpp"

namespace secbits::pool {

namespace {

// malloc(0) is rare enough for one lock: its blocks share no fast path.
constinit std::mutex zero_mutex;
constinit Slab* zero_slabs = nullptr;  // linked through Slab::next

void* take_from(Slab& slab) noexcept {
  for (std::uint32_t word = slab.hint; word < slab.bitmap_words(); ++word) {
    const std::uint64_t bits = slab.free_bits[word].load(std::memory_order_relaxed);
    if (bits == 0) continue;
    const auto bit = static_cast<std::uint32_t>(std::countr_zero(bits));
    slab.free_bits[word].store(bits & (bits - 1), std::memory_order_relaxed);
    slab.hint = word;
    ++slab.live;
    return slab.base + std::size_t{word * 64 + bit} * slab.block_size;
  }
  slab.hint = slab.bitmap_words();
  return nullptr;
}

}  // namespace

void* allocate_zero_size() noexcept {
  std::lock_guard lock(zero_mutex);
  for (Slab* slab = zero_slabs; slab != nullptr; slab = slab->next) {
    if (void* block = take_from(*slab)) return block;
  }
  Slab* slab = take_unbacked_slab();
  if (slab == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  slab->zero_size = true;
  slab->class_index = UINT8_MAX;  // no request's class: every sized free of it takes the checked path
  slab->block_size = 16;
  slab->block_count = static_cast<std::uint32_t>(kMaxBlocksPerSlab);
  slab->reciprocal = static_cast<std::uint32_t>(((std::uint64_t{1} << 32) + 15) / 16);
  for (std::uint32_t word = 0; word < kBitmapWords; ++word) {
    const std::uint32_t first = word * 64;
    std::uint64_t bits = 0;
    if (first + 64 <= slab->block_count) bits = ~std::uint64_t{0};
    else if (first < slab->block_count) bits = (std::uint64_t{1} << (slab->block_count - first)) - 1;
    slab->free_bits[word].store(bits, std::memory_order_relaxed);
  }
  slab->next = zero_slabs;
  zero_slabs = slab;
  return take_from(*slab);
}

void free_zero_size(Slab& slab, std::uint32_t index) noexcept {
  std::lock_guard lock(zero_mutex);
  const std::uint32_t word = index >> 6;
  const std::uint64_t bits = slab.free_bits[word].load(std::memory_order_relaxed);
  const std::uint64_t bit = std::uint64_t{1} << (index & 63);
  // Two threads freeing it at once both passed the lock-free check.
  if ((bits & bit) != 0) block_already_freed(slab.base + std::size_t{index} * slab.block_size, BlockUse::Free);
  slab.free_bits[word].store(bits | bit, std::memory_order_relaxed);
  if (word < slab.hint) slab.hint = word;
  --slab.live;
}

void zero_size_prepare_fork() noexcept { zero_mutex.lock(); }
void zero_size_parent_after_fork() noexcept { zero_mutex.unlock(); }
void zero_size_child_after_fork() noexcept { ::new (&zero_mutex) std::mutex; }

}  // namespace secbits::pool
