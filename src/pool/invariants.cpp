#include "pool/invariants.hpp"

#include <cstdint>

#include "os/diagnostics.hpp"
#include "pool/heap.hpp"
#include "pool/slab.hpp"

namespace secbits::pool {

namespace {

[[noreturn]] void broken(const char* what, const void* where) noexcept {
  os::fatal(what, where);
}

std::uint32_t bits_in(std::uint64_t word) noexcept {
  return count_bits(static_cast<std::uint32_t>(word)) + count_bits(static_cast<std::uint32_t>(word >> 32));
}

bool is_free(const Slab& slab, std::uint32_t index) noexcept {
  return (slab.free_bits[index >> 6].load(std::memory_order_relaxed) >> (index & 63)) & 1;
}

void check_list(const ClassLists& lists, const Slab* head, SlabList list, std::size_t class_index) noexcept {
  const Slab* previous = nullptr;
  for (const Slab* slab = head; slab != nullptr; previous = slab, slab = slab->next) {
    if (slab->list != list) broken("invariant broken: a slab is not on the list it says", slab->base);
    if (slab->prev != previous) broken("invariant broken: a slab's back link is wrong", slab->base);
    if (slab->class_index != class_index) broken("invariant broken: a slab is on another class's list", slab->base);
    if (slab == lists.current) broken("invariant broken: the current slab is also on a list", slab->base);
  }
}

}  // namespace

void check_slab(const Slab& slab) noexcept {
  if (!slab.committed) broken("invariant broken: a slab in use is not committed", slab.base);
  std::uint32_t free_blocks = 0;
  for (std::uint32_t word = 0; word < kBitmapWords; ++word) {
    const std::uint64_t bits = slab.free_bits[word].load(std::memory_order_relaxed);
    if (word < slab.hint && bits != 0) broken("invariant broken: a free block below the slab's hint", slab.base);
    const std::uint32_t first = word * 64;
    if (first >= slab.block_count && bits != 0) broken("invariant broken: a free bit past the last block", slab.base);
    if (first < slab.block_count && slab.block_count - first < 64 && (bits >> (slab.block_count - first)) != 0) {
      broken("invariant broken: a free bit past the last block", slab.base);
    }
    free_blocks += bits_in(bits);
  }
  if (free_blocks + slab.live != slab.block_count) {
    broken("invariant broken: free blocks and live blocks do not add up to the slab's blocks", slab.base);
  }
  // take_block finds a page closed or waiting with one test of open ^ waiting.
  if ((slab.pending_close & ~slab.open_pages) != 0) broken("invariant broken: a page waiting to close is closed", slab.base);
  std::uint32_t page_live[kSlabUnits] = {};
  for (std::uint32_t index = 0; index < slab.block_count; ++index) {
    if (is_free(slab, index)) continue;
    const std::size_t offset = std::size_t{index} * slab.block_size;
    for (std::size_t page = offset >> slab.unit_shift; page <= (offset + slab.block_size - 1) >> slab.unit_shift;
         ++page) {
      ++page_live[page];
    }
  }
  if ((slab.open_pages & ~slab.all_units()) != 0) broken("invariant broken: a unit past the committed ones is open", slab.base);
  for (std::uint32_t page = 0; page < kSlabUnits; ++page) {
    const std::uint32_t bit = std::uint32_t{1} << page;
    if (page_live[page] != slab.page_live[page]) broken("invariant broken: a page's live count is wrong", slab.base);
    if (page_live[page] != 0 && (slab.open_pages & bit) == 0) {
      broken("invariant broken: a live block lies on a closed page", slab.base);
    }
    if (page_live[page] != 0 && (slab.pending_close & bit) != 0) {
      broken("invariant broken: a page waiting to close holds a live block", slab.base);
    }
  }
}

void check_heap(const ThreadHeap& heap) noexcept {
  for (std::size_t class_index = 0; class_index < kClassCount; ++class_index) {
    const ClassLists& lists = heap.classes[class_index];
    if (const Slab* current = lists.current) {
      if (current->list != SlabList::Current || current->class_index != class_index) {
        broken("invariant broken: the current slab does not say so", current->base);
      }
    }
    check_list(lists, lists.available, SlabList::Available, class_index);
    check_list(lists, lists.full, SlabList::Full, class_index);
    for (std::uint32_t i = 0; i < lists.cached; ++i) {
      const CachedBlock& block = lists.cache[i];
      const std::uint64_t bit = std::uint64_t{1} << (block.index & 63);
      if (block.slab->owner.load(std::memory_order_relaxed) != &heap || block.slab->class_index != class_index ||
          (block.slab->quarantine_bits[block.index >> 6].load(std::memory_order_relaxed) & bit) == 0) {
        broken("invariant broken: a cached block is not its heap's, of its class and marked", block.slab->base);
      }
    }
  }
  std::uint32_t pending_pages = 0;
  for (const Slab* slab = heap.pending; slab != nullptr; slab = slab->next_pending) {
    if (!slab->in_pending_list) broken("invariant broken: a slab on the pending list does not say so", slab->base);
    pending_pages += pages_in(*slab, slab->pending_close);
  }
  if (pending_pages != heap.pending_pages) broken("invariant broken: the heap's count of waiting pages", &heap);
}

}  // namespace secbits::pool
