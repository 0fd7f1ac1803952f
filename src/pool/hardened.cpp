#include "pool/hardened.hpp"

#include <cstring>

#include "os/wipe.hpp"
#include "pool/options.hpp"
#include "pool/pool.hpp"

namespace secbits::pool {

namespace {

std::byte* canary_tail(const Slab& slab, const void* block) noexcept {
  return static_cast<std::byte*>(const_cast<void*>(block)) + slab.block_size - kCanaryBytes;
}

/// A small block just taken from `slab`: still zero since it was wiped
/// (anything else is a write after free), then given its canary.
[[gnu::always_inline]] inline void check_handed_out(const Slab& slab, void* block) noexcept {
  if (!is_zero(block, slab.block_size)) [[unlikely]] written_after_free(block, usable_bytes(slab.block_size));
  if (g_canaries.load(std::memory_order_relaxed)) {
    const std::uint64_t canary = canary_at(canary_tail(slab, block));
    std::memcpy(canary_tail(slab, block), &canary, sizeof canary);
  }
}

/// check_handed_out for a block from the slow path: small, large or zero-size.
void check_handed_out(void* block) noexcept {
  const std::uintptr_t offset =
      reinterpret_cast<std::uintptr_t>(block) - g_region.base.load(std::memory_order_relaxed);
  if (offset >= g_region.small_bytes.load(std::memory_order_relaxed)) return;  // large: fresh or wiped and closed
  const Slab& slab = g_region.slabs[offset >> kSlotShift];
  if (!slab.zero_size) check_handed_out(slab, block);
}

/// The next pseudo-random start bit for the heap (xorshift; seeded from its
/// own address and the canary secret's mix, so it differs per heap and run).
unsigned next_start(ThreadHeap& heap) noexcept {
  std::uint64_t state = heap.random_state;
  if (state == 0) state = canary_at(&heap);
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  heap.random_state = state;
  return static_cast<unsigned>(state >> 58);
}

/// Back to its slab: the block left the quarantine.
[[gnu::always_inline]] inline void release_quarantined(ThreadHeap& heap, Slab& slab, std::uint32_t index) noexcept {
  set_quarantine_bit(slab, index, false);
  return_block(slab, heap, index, std::size_t{index} * slab.block_size, true);
}

/// Whether a request of `size` bytes aligned to `alignment` (0: any the
/// allocation calls accept) could have been given this small block's class.
bool class_fits(const Slab& slab, std::size_t size, std::size_t alignment) noexcept {
  const std::size_t request = request_bytes(size);
  if (request > kMaxSmallSize) return false;
  if (alignment != 0) return class_of(request, alignment < kDefaultAlignment ? kDefaultAlignment : alignment) ==
                             slab.class_index;
  for (std::size_t candidate = kDefaultAlignment; candidate <= kPageSize; candidate *= 2) {
    if (class_of(request, candidate) == slab.class_index) return true;
  }
  return false;
}

}  // namespace

void check_canary(const Slab& slab, const void* block) noexcept {
  std::uint64_t found = 0;
  std::memcpy(&found, canary_tail(slab, block), sizeof found);
  if (found != canary_at(canary_tail(slab, block))) [[unlikely]] {
    if (blocks_purged()) return;
    heap_overflow(block, usable_bytes(slab.block_size));
  }
}

void* allocate_checked(std::size_t size) noexcept {
  // Canaries change the class a size takes: level 3 goes the whole hardened way.
  if (!g_canaries.load(std::memory_order_relaxed)) {
    if (void* block = take_current_block<true>(size)) [[likely]] return block;
  }
  return allocate_hardened(size, kDefaultAlignment);
}

void* allocate_hardened(std::size_t size, std::size_t alignment) noexcept {
  if (size == 0 && alignment <= kDefaultAlignment) return allocate_from_pool(0, alignment);
  // The canary's bytes come on top of a small request; a large block needs
  // none (its trailing guard page is its canary).
  std::size_t request = size <= kMaxSmallSize ? request_bytes(size) : size;
  if (request == 0) request = 1;
  ThreadHeap* heap = tl_heap;
  if (heap != nullptr && alignment <= kDefaultAlignment && request <= kMaxSmallSize) [[likely]] {
    if (Slab* slab = heap->classes[class_of(request)].current) [[likely]] {
      const unsigned start = g_canaries.load(std::memory_order_relaxed) ? next_start(*heap) : 0;
      if (void* block = take_block(*slab, *heap, start)) [[likely]] {
        check_handed_out(*slab, block);
        return block;
      }
    }
  }
  void* block = allocate_from_pool(request, alignment);
  if (block != nullptr) check_handed_out(block);
  return block;
}

void free_local_hardened(Slab& slab, ThreadHeap& heap, void* pointer) noexcept {
  const std::uint32_t index = live_block_index(slab, pointer, BlockUse::Free);
  if (g_canaries.load(std::memory_order_relaxed)) check_canary(slab, pointer);
  os::secure_wipe(pointer, slab.block_size);
  count_bytes(heap, -static_cast<std::int64_t>(slab.block_size));
  const std::size_t offset = std::size_t{index} * slab.block_size;
  if (g_page_protection.load(std::memory_order_relaxed) == PageProtection::Eager) {
    // Eager protection closes a page at the very free that empties it, and a
    // write after free there faults: the quarantine would keep it open.
    return_block(slab, heap, index, offset, true);
    return;
  }
  set_quarantine_bit(slab, index, true);
  ThreadHeap::QuarantinedBlock& slot = heap.quarantine[heap.quarantine_next];
  heap.quarantine_next = (heap.quarantine_next + 1) % kQuarantineSlots;
  const ThreadHeap::QuarantinedBlock oldest = slot;
  slot = {&slab, index};
  if (oldest.slab != nullptr) release_quarantined(heap, *oldest.slab, oldest.index);
}

void flush_quarantine(ThreadHeap& heap) noexcept {
  for (ThreadHeap::QuarantinedBlock& slot : heap.quarantine) {
    const ThreadHeap::QuarantinedBlock block = slot;
    slot = {};
    if (block.slab != nullptr) release_quarantined(heap, *block.slab, block.index);
  }
}

namespace {

void check_sized_free(void* pointer, std::size_t size, std::size_t alignment) noexcept {
  if (pointer == nullptr || !owns(pointer)) return;  // deallocate says what is wrong with it
  const LiveBlock block = find_live_block(pointer, BlockUse::Free);
  bool fits = false;
  if (block.slab == nullptr) {
    // Page-rounded, and more than half the block: a span reused for a
    // smaller block, or grown by realloc, keeps up to half as many pages
    // again as asked for (large.cpp). A request the small classes could hold
    // came with an alignment above a page.
    const std::size_t pages = (size + kPageSize - 1) & ~(kPageSize - 1);
    fits = size <= block.usable_size && (size <= kMaxSmallSize || pages * 2 > block.usable_size);
  } else if (block.slab->zero_size) {
    fits = size == 0;
  } else {
    fits = class_fits(*block.slab, size, alignment);
  }
  if (!fits) wrong_size_freed(pointer, block.usable_size, size);
}

}  // namespace

void deallocate_size_checked(void* pointer, std::size_t size, std::size_t alignment) noexcept {
  check_sized_free(pointer, size, alignment);
  deallocate(pointer);
}

}  // namespace secbits::pool
