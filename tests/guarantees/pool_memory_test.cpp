// What the kernel says about the secure pool's memory, observed on this very
// process: every API's blocks are in locked, undumpable mappings; freed bytes
// cannot be read back (zero, or the page is inaccessible, as read through the
// kernel with support/probe); pages that hold no live block are closed
// according to the page protection policy; misuse of free() aborts with one
// line naming the address.
#include <secbits/secbits.h>

#include <secbits/allocator.hpp>
#include <secbits/memory_resource.hpp>
#include <secbits/pool.hpp>
#include <secbits/secure_new.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory_resource>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/probe.hpp"
#include "support/smaps.hpp"

namespace {

using secbits::test::observe_memory;
using secbits::test::page_size;

constexpr unsigned char kSecretByte = 0xA5;

std::uintptr_t address_of(const void* pointer) { return reinterpret_cast<std::uintptr_t>(pointer); }
const void* pointer_at(std::uintptr_t address) { return reinterpret_cast<const void*>(address); }

// Every mapping that [pointer, pointer + size) touches is locked (VmFlags lo,
// and the kernel counts all its resident pages as locked) and excluded from
// core dumps (dd). The pool locks pages as they are first touched, so every
// page of the block is touched first, as a secret written there would.
void expect_locked_and_undumpable(const void* pointer, std::size_t size, const std::string& what) {
  SCOPED_TRACE(what);
  const std::uintptr_t end = address_of(pointer) + size;
  for (std::uintptr_t at = address_of(pointer); at < end; at = (at | (page_size() - 1)) + 1) {
    auto* byte = reinterpret_cast<volatile unsigned char*>(at);
    *byte = *byte;
  }
  for (std::uintptr_t at = address_of(pointer); at < end;) {
    const auto mapping = secbits::test::mapping_containing(pointer_at(at));
    ASSERT_TRUE(mapping.has_value()) << "no mapping at " << pointer_at(at);
    EXPECT_TRUE(mapping->has_flag("lo")) << "not locked: mapping at " << pointer_at(mapping->start);
    EXPECT_TRUE(mapping->has_flag("dd")) << "would be in a core dump: mapping at " << pointer_at(mapping->start);
    EXPECT_GT(mapping->rss_kb, 0u);
    EXPECT_EQ(mapping->locked_kb, mapping->rss_kb) << "mapping at " << pointer_at(mapping->start);
    at = mapping->end;
  }
}

void fill_secret(void* pointer, std::size_t size) { std::memset(pointer, kSecretByte, size); }

// Called right after the block at `pointer` was released: none of its old
// bytes can be read back.
void expect_wiped(const void* pointer, std::size_t size, const std::string& what) {
  const auto state = observe_memory(pointer, size);
  EXPECT_TRUE(state.wiped_or_inaccessible())
      << what << ": " << state.nonzero_bytes << " of " << state.readable_bytes << " readable bytes at " << pointer
      << " still hold data after release";
}

void expect_inaccessible(const void* pointer, std::size_t size, const std::string& what) {
  const auto state = observe_memory(pointer, size);
  EXPECT_TRUE(state.inaccessible()) << what << ": " << state.readable_bytes << " of " << size << " bytes at "
                                    << pointer << " can still be read";
}

/// A block of `size` bytes filled with the secret, then freed: where it was
/// and how many bytes it had.
struct FreedBlock {
  void* pointer;
  std::size_t usable;
};
FreedBlock fill_and_free(std::size_t size) {
  void* p = secbits_malloc(size);
  if (p == nullptr) return {nullptr, 0};
  const std::size_t usable = secbits_usable_size(p);
  fill_secret(p, usable);
  secbits_free(p);
  return {p, usable};
}

// Sets a page protection policy for one test and puts the default back, so
// that tests run in one process do not leak their policy into the next.
class ScopedPageProtection {
 public:
  explicit ScopedPageProtection(secbits_page_protection protection) { secbits_set_page_protection(protection); }
  ~ScopedPageProtection() { secbits_set_page_protection(SECBITS_PROTECT_CACHED); }
  ScopedPageProtection(const ScopedPageProtection&) = delete;
  ScopedPageProtection& operator=(const ScopedPageProtection&) = delete;
};

// Blocks of one small size, filled with the secret byte over their whole
// usable size, and the pages that consist of nothing but these blocks: once
// all of them are freed such a page holds no live block, whoever else uses
// the pool.
class SmallBlocks {
 public:
  SmallBlocks(std::size_t size, std::size_t count) {
    std::map<std::uintptr_t, std::size_t> covered_bytes;  // page -> bytes of it inside our blocks
    const std::size_t page = page_size();
    for (std::size_t i = 0; i < count; ++i) {
      void* block = secbits_malloc(size);
      if (block == nullptr) {
        ADD_FAILURE() << "secbits_malloc(" << size << ") failed after " << i << " blocks";
        return;
      }
      const std::size_t usable = secbits_usable_size(block);
      fill_secret(block, usable);
      blocks_.push_back(block);
      // Live blocks do not overlap (the unit tests check it), so the bytes
      // they cover on a page add up.
      const std::uintptr_t start = address_of(block);
      const std::uintptr_t end = start + usable;
      for (std::uintptr_t p = start / page * page; p < end; p += page) {
        covered_bytes[p] += std::min(end, p + page) - std::max(start, p);
      }
    }
    for (const auto& [start, bytes] : covered_bytes) {
      if (bytes == page) full_pages_.push_back(start);
    }
  }
  ~SmallBlocks() { free_all(); }
  SmallBlocks(const SmallBlocks&) = delete;
  SmallBlocks& operator=(const SmallBlocks&) = delete;

  const std::vector<std::uintptr_t>& full_pages() const { return full_pages_; }

  // What can be read of the full pages, and how much of it is not zero.
  struct FullPagesSeen {
    std::size_t open_bytes = 0;
    std::size_t nonzero_bytes = 0;
  };
  FullPagesSeen observe_full_pages() const {
    FullPagesSeen seen;
    for (const std::uintptr_t page : full_pages_) {
      const auto state = observe_memory(pointer_at(page), page_size());
      seen.open_bytes += state.readable_bytes;
      seen.nonzero_bytes += state.nonzero_bytes;
    }
    return seen;
  }

  // Our blocks that overlap the page starting at `page_start`, in address order.
  std::vector<void*> blocks_on(std::uintptr_t page_start) const {
    std::vector<void*> on_page;
    for (void* block : blocks_) {
      const std::uintptr_t start = address_of(block);
      if (start < page_start + page_size() && start + secbits_usable_size(block) > page_start) on_page.push_back(block);
    }
    std::sort(on_page.begin(), on_page.end());
    return on_page;
  }

  void free_block(void* block) {
    const auto it = std::find(blocks_.begin(), blocks_.end(), block);
    ASSERT_NE(it, blocks_.end());
    blocks_.erase(it);
    secbits_free(block);
  }

  void free_all_in_random_order(unsigned seed) {
    std::shuffle(blocks_.begin(), blocks_.end(), std::mt19937(seed));
    free_all();
  }

  void free_all() {
    for (void* block : blocks_) secbits_free(block);
    blocks_.clear();
  }

 private:
  std::vector<void*> blocks_;
  std::vector<std::uintptr_t> full_pages_;
};

// Enough 256-byte blocks (256 KiB) that some pages are made of nothing else,
// even when earlier tests left the size class's slabs with scattered free
// blocks.
constexpr std::size_t kPageFillBlocks = 1024;

// ---------------------------------------------------------------- locked and undumpable

TEST(PoolMemory, EveryApiServesLockedUndumpableMemory) {
  void* small = secbits_malloc(100);
  void* medium = secbits_malloc(5000);
  void* zeroed = secbits_calloc(10, 100);
  void* aligned = secbits_aligned_alloc(std::size_t{1} << 16, 100);
  void* large = secbits_malloc(std::size_t{1} << 20);
  auto* object = secbits::secure_new<std::array<char, 300>>();
  secbits::secure_vector<int> numbers(1000, 7);
  std::pmr::memory_resource* resource = secbits::secure_memory_resource();
  void* from_resource = resource->allocate(700, 64);
  std::pmr::vector<std::uint64_t> pmr_numbers(3000, 1, resource);
  ASSERT_TRUE(small && medium && zeroed && aligned && large);

  expect_locked_and_undumpable(small, 100, "secbits_malloc(100)");
  expect_locked_and_undumpable(medium, 5000, "secbits_malloc(5000)");
  expect_locked_and_undumpable(zeroed, 1000, "secbits_calloc(10, 100)");
  expect_locked_and_undumpable(aligned, 100, "secbits_aligned_alloc(64 KiB, 100)");
  expect_locked_and_undumpable(large, std::size_t{1} << 20, "secbits_malloc(1 MiB)");
  expect_locked_and_undumpable(object, sizeof *object, "secure_new");
  expect_locked_and_undumpable(numbers.data(), numbers.size() * sizeof(int), "secure_vector");
  expect_locked_and_undumpable(from_resource, 700, "secure_memory_resource()->allocate");
  expect_locked_and_undumpable(pmr_numbers.data(), pmr_numbers.size() * sizeof(std::uint64_t), "std::pmr::vector");

  resource->deallocate(from_resource, 700, 64);
  secbits::secure_delete(object);
  for (void* p : {small, medium, zeroed, aligned, large}) secbits_free(p);
}

// ---------------------------------------------------------------- wiped on release

TEST(PoolMemory, FreedBlocksOfEveryApiCannotBeReadBack) {
  for (const std::size_t size : {std::size_t{16}, std::size_t{100}, std::size_t{256}, std::size_t{4000},
                                 std::size_t{16384}, std::size_t{16385}, std::size_t{100000}}) {
    const auto [p, usable] = fill_and_free(size);
    ASSERT_NE(p, nullptr);
    expect_wiped(p, usable, "secbits_free of a " + std::to_string(size) + "-byte block");
  }

  void* zeroed = secbits_calloc(30, 10);
  ASSERT_NE(zeroed, nullptr);
  fill_secret(zeroed, 300);
  secbits_free(zeroed);
  expect_wiped(zeroed, 300, "secbits_calloc");

  void* aligned = secbits_aligned_alloc(4096, 3000);
  ASSERT_NE(aligned, nullptr);
  fill_secret(aligned, 3000);
  secbits_free(aligned);
  expect_wiped(aligned, 3000, "secbits_aligned_alloc(4096, 3000)");

  auto* object = secbits::secure_new<std::array<unsigned char, 400>>();
  object->fill(kSecretByte);
  secbits::secure_delete(object);
  expect_wiped(object, sizeof *object, "secure_delete");

  std::pmr::memory_resource* resource = secbits::secure_memory_resource();
  void* from_resource = resource->allocate(900, 128);
  fill_secret(from_resource, 900);
  resource->deallocate(from_resource, 900, 128);
  expect_wiped(from_resource, 900, "secure_memory_resource()->deallocate");

  const char* characters = nullptr;
  {
    secbits::secure_string secret(5000, static_cast<char>(kSecretByte));
    characters = secret.data();
  }
  expect_wiped(characters, 5000, "secure_string destroyed");
}

TEST(PoolMemory, ReallocThatMovesLeavesNothingAtTheOldAddress) {
  for (const auto& [from, to] : {std::pair<std::size_t, std::size_t>{64, 5000}, {1000, 100000}, {100000, 3000000},
                                 {200000, 100}}) {
    void* old_block = secbits_malloc(from);
    ASSERT_NE(old_block, nullptr);
    fill_secret(old_block, from);
    void* new_block = secbits_realloc(old_block, to);
    ASSERT_NE(new_block, nullptr);
    if (new_block != old_block) {
      expect_wiped(old_block, from, "realloc " + std::to_string(from) + " -> " + std::to_string(to));
    }
    secbits_free(new_block);
  }
}

TEST(PoolMemory, ReallocThatShrinksInPlaceLeavesNothingBeyondTheNewEnd) {
  for (const auto& [from, to] : {std::pair<std::size_t, std::size_t>{300000, 70000}, {std::size_t{1} << 20, 20000},
                                 {3 << 20, 1 << 20}, {16384, 5000}}) {
    void* block = secbits_malloc(from);
    ASSERT_NE(block, nullptr);
    const std::size_t old_usable = secbits_usable_size(block);
    fill_secret(block, old_usable);
    void* shrunk = secbits_realloc(block, to);
    ASSERT_NE(shrunk, nullptr);
    const std::string what = "realloc " + std::to_string(from) + " -> " + std::to_string(to);
    if (shrunk != block) {
      expect_wiped(block, old_usable, what + " (moved)");
    } else {
      const std::size_t new_usable = secbits_usable_size(shrunk);
      if (new_usable < old_usable) {
        expect_wiped(static_cast<char*>(block) + new_usable, old_usable - new_usable, what + ", the cut-off tail");
      }
    }
    secbits_free(shrunk);
  }
}

TEST(PoolMemory, GrowingSecureVectorLeavesNoCopyInItsOldBuffers) {
  secbits::secure_vector<unsigned char> secret;
  std::size_t moves = 0;
  for (int i = 0; i < 200000; ++i) {
    const unsigned char* old_data = secret.data();
    const std::size_t old_size = secret.size();
    secret.push_back(kSecretByte);
    if (secret.data() != old_data && old_data != nullptr) {
      ++moves;
      expect_wiped(old_data, old_size, "buffer of " + std::to_string(old_size) + " bytes left behind by growth");
    }
  }
  EXPECT_GE(moves, 10u);  // the vector did go through small classes and page runs
}

// Under the cached policy a freed large block waits, wiped and open, for the
// next block of its span size, as a slab's emptied pages do: collect()
// closes it.
TEST(PoolMemory, FreedLargeBlockIsWipedAtOnceAndClosedByCollect) {
  secbits_collect();
  // 28673: one byte above the largest size class.
  for (const std::size_t size : {std::size_t{28673}, std::size_t{64} << 10, std::size_t{3} << 20}) {
    const std::string what = "large block of " + std::to_string(size) + " bytes after free";
    const auto [p, usable] = fill_and_free(size);
    ASSERT_NE(p, nullptr);
    const auto state = observe_memory(p, usable);
    EXPECT_EQ(state.readable_bytes, usable) << what << ": waits open";
    EXPECT_EQ(state.nonzero_bytes, 0u) << what << ": wiped";
    secbits_collect();
    expect_inaccessible(p, usable, what + " and collect()");
    // owns() is a range compare: asking about a closed page must not fault.
    EXPECT_TRUE(secbits_owns(p));
  }
}

// Past 32 MiB of freed spans waiting open, the oldest is closed: the span a
// program freed last is the one it is about to reuse.
TEST(PoolMemory, FreedLargeBlocksBeyond32MiBWaitingOpenCloseTheOldest) {
  secbits_collect();
  const std::size_t size = std::size_t{20} << 20;
  void* first = secbits_malloc(size);
  void* second = secbits_malloc(size);
  ASSERT_TRUE(first && second);
  const std::size_t usable = secbits_usable_size(first);
  fill_secret(first, usable);
  fill_secret(second, secbits_usable_size(second));
  secbits_free(first);
  secbits_free(second);  // 40 MiB would wait open: past the 32 MiB limit
  expect_inaccessible(first, usable, "the first 20 MiB block freed, once a second one is");
  const auto second_state = observe_memory(second, usable);
  EXPECT_EQ(second_state.readable_bytes, usable) << "the block freed last waits open";
  EXPECT_EQ(second_state.nonzero_bytes, 0u) << "the block freed last is wiped";
  secbits_collect();
  expect_inaccessible(second, usable, "the second 20 MiB block after collect()");
}

TEST(PoolMemory, FreedLargeBlockIsInaccessibleAtOnceUnderEagerProtection) {
  ScopedPageProtection eager(SECBITS_PROTECT_EAGER);
  for (const std::size_t size : {std::size_t{28673}, std::size_t{64} << 10, std::size_t{3} << 20}) {
    const auto [p, usable] = fill_and_free(size);
    ASSERT_NE(p, nullptr);
    expect_inaccessible(p, usable, "large block of " + std::to_string(size) + " bytes after free, eager policy");
  }
}

// calloc of a large block touches none of its pages (every large block
// handed out is zero already), and a span kept open since its free is
// zeroed again even if a write after free reached it.
TEST(PoolMemory, LargeCallocFaultsInNoPageAndIsZeroAfterAWriteAfterFree) {
  secbits_collect();
  const std::size_t size = std::size_t{8} << 20;
  void* fresh = secbits_calloc(1, size);
  ASSERT_NE(fresh, nullptr);
  EXPECT_LE(secbits::test::resident_bytes(fresh, size), std::size_t{64} << 10) << "calloc made its pages resident";
  secbits_free(fresh);
  secbits_collect();
  const std::size_t small = std::size_t{256} << 10;
  void* block = secbits_malloc(small);
  ASSERT_NE(block, nullptr);
  std::memset(block, 0x5a, secbits_usable_size(block));
  secbits_free(block);
  static_cast<volatile unsigned char*>(block)[100] = 0x77;  // the bug: open, so it lands
  void* again = secbits_calloc(1, small);
  ASSERT_EQ(again, block) << "the span waiting open is the one reused";
  EXPECT_EQ(observe_memory(again, small).nonzero_bytes, 0u);
  secbits_free(again);
}

TEST(PoolMemory, LargeBlockLiesBetweenInaccessibleGuardPages) {
  const std::size_t page = page_size();
  void* plain = secbits_malloc(std::size_t{64} << 10 | 1);
  void* aligned = secbits_aligned_alloc(std::size_t{1} << 20, std::size_t{100} << 10);
  ASSERT_TRUE(plain && aligned);
  for (void* p : {plain, aligned}) {
    const std::uintptr_t first_page = address_of(p) / page * page;
    const std::uintptr_t end = address_of(p) + secbits_usable_size(p);
    const std::uintptr_t page_after = (end + page - 1) / page * page;
    EXPECT_EQ(observe_memory(p, secbits_usable_size(p)).unreadable_bytes, 0u) << "the block itself is open";
    EXPECT_FALSE(secbits::test::is_readable(pointer_at(first_page - 1))) << "page before block " << p;
    EXPECT_FALSE(secbits::test::is_readable(pointer_at(page_after))) << "page after block " << p;
  }
  secbits_free(plain);
  secbits_free(aligned);
}

// Blocks of 32-64 KiB come from medium slabs (3 to 7 blocks of a class side
// by side), not from a span each: a dozen 40 KiB blocks take two or three
// kernel mappings, not a dozen and their guards, and each mapping is locked,
// undumpable and fenced by inaccessible pages on both sides.
TEST(PoolMemory, MediumBlocksShareGuardedMappingsOfUpToSevenBlocks) {
  constexpr std::size_t kBlock = std::size_t{40} << 10;  // 6 to a slab
  constexpr std::size_t kCount = 12;
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < kCount; ++i) {
    blocks.push_back(secbits_malloc(kBlock));
    ASSERT_NE(blocks.back(), nullptr);
    fill_secret(blocks.back(), kBlock);
  }
  const auto mappings = secbits::test::all_mappings();
  std::map<std::uintptr_t, std::size_t> blocks_per_mapping;
  for (void* block : blocks) {
    const secbits::test::Mapping* mapping = secbits::test::find_mapping(mappings, block);
    ASSERT_NE(mapping, nullptr) << block;
    ASSERT_LE(address_of(block) + kBlock, mapping->end) << "block " << block << " spans two mappings";
    ++blocks_per_mapping[mapping->start];
  }
  EXPECT_LE(blocks_per_mapping.size(), 3u) << kCount << " blocks of 40 KiB in as many mappings";
  for (const auto& [start, count] : blocks_per_mapping) {
    EXPECT_LE(count, 6u);
    const secbits::test::Mapping* mapping = secbits::test::find_mapping(mappings, pointer_at(start));
    EXPECT_TRUE(mapping->has_flag("lo") && mapping->has_flag("dd")) << "mapping at " << pointer_at(start);
    EXPECT_FALSE(secbits::test::is_readable(pointer_at(mapping->start - 1))) << "before " << pointer_at(start);
    EXPECT_FALSE(secbits::test::is_readable(pointer_at(mapping->end))) << "after " << pointer_at(start);
  }
  for (void* block : blocks) {
    secbits_free(block);
    expect_wiped(block, kBlock, "freed 40 KiB block");
  }
}

// A thread's first two slabs of a class are 31 pages; once both are full,
// its next slabs of the class are 31 units of 8 KiB: half as many mappings
// for a big heap, no more locked memory for a small one.
TEST(PoolMemory, AThreadsLaterSlabsOfAClassAreTwiceAsLarge) {
  constexpr std::size_t kBlock = 3584;  // a class of its own: 35 blocks to a 124 KiB slab
  std::vector<std::size_t> mapping_sizes;
  std::thread([&] {
    std::vector<void*> blocks;
    for (int i = 0; i < 35 + 35 + 70; ++i) {
      blocks.push_back(secbits_malloc(kBlock));
      if (blocks.back() == nullptr) return;
      fill_secret(blocks.back(), kBlock);
    }
    const auto mappings = secbits::test::all_mappings();
    std::uintptr_t last_start = 0;
    for (void* block : blocks) {
      const secbits::test::Mapping* mapping = secbits::test::find_mapping(mappings, block);
      if (mapping == nullptr || mapping->start == last_start) continue;
      last_start = mapping->start;
      mapping_sizes.push_back(mapping->end - mapping->start);
    }
    for (void* block : blocks) secbits_free(block);
  }).join();
  ASSERT_EQ(mapping_sizes.size(), 3u) << "35 + 35 + 70 blocks of 3584 bytes not in three slabs";
  EXPECT_EQ(mapping_sizes[0], std::size_t{124} << 10);
  EXPECT_EQ(mapping_sizes[1], std::size_t{124} << 10);
  EXPECT_EQ(mapping_sizes[2], std::size_t{248} << 10);
}

// ---------------------------------------------------------------- page protection policies

TEST(PoolPageProtection, EagerClosesAPageOnTheFreeThatEmptiesIt) {
  ScopedPageProtection eager(SECBITS_PROTECT_EAGER);
  SmallBlocks blocks(256, kPageFillBlocks);
  ASSERT_FALSE(blocks.full_pages().empty()) << "no page made only of our 256-byte blocks";
  const std::uintptr_t page = blocks.full_pages().front();
  const auto on_page = blocks.blocks_on(page);
  ASSERT_GE(on_page.size(), 2u);

  for (std::size_t i = 0; i + 1 < on_page.size(); ++i) blocks.free_block(on_page[i]);
  // One live block left: the page must stay open, the freed blocks zero.
  void* last = on_page.back();
  const auto* last_bytes = static_cast<const unsigned char*>(last);
  EXPECT_EQ(last_bytes[0], kSecretByte);
  EXPECT_EQ(last_bytes[secbits_usable_size(last) - 1], kSecretByte);
  for (std::size_t i = 0; i + 1 < on_page.size(); ++i) {
    const auto state = observe_memory(on_page[i], 256);
    EXPECT_EQ(state.readable_bytes, 256u) << "page closed while it still holds a live block";
    EXPECT_EQ(state.nonzero_bytes, 0u) << "freed block " << on_page[i] << " not wiped";
  }

  blocks.free_block(last);
  expect_inaccessible(pointer_at(page), page_size(), "page emptied under SECBITS_PROTECT_EAGER");

  blocks.free_all();
  for (const std::uintptr_t full : blocks.full_pages()) {
    expect_inaccessible(pointer_at(full), page_size(), "page emptied under SECBITS_PROTECT_EAGER");
  }
}

// A medium block's pages are its own (8 KiB units): the eager policy closes
// them on its free while its neighbours, live, stay readable.
TEST(PoolPageProtection, EagerClosesAMediumBlockOnItsFree) {
  ScopedPageProtection eager(SECBITS_PROTECT_EAGER);
  constexpr std::size_t kBlock = std::size_t{48} << 10;
  std::vector<void*> blocks;
  for (int i = 0; i < 6; ++i) {
    blocks.push_back(secbits_malloc(kBlock));
    ASSERT_NE(blocks.back(), nullptr);
    fill_secret(blocks.back(), kBlock);
  }
  std::sort(blocks.begin(), blocks.end());
  // Two neighbours in one slab, one after the other.
  std::size_t first = 0;
  while (first + 1 < blocks.size() && address_of(blocks[first]) + kBlock != address_of(blocks[first + 1])) ++first;
  ASSERT_LT(first + 1, blocks.size()) << "no two 48 KiB blocks side by side";
  secbits_free(blocks[first]);
  expect_inaccessible(blocks[first], kBlock, "48 KiB block freed under SECBITS_PROTECT_EAGER");
  const auto neighbour = observe_memory(blocks[first + 1], kBlock);
  EXPECT_EQ(neighbour.readable_bytes, kBlock) << "the live neighbour was closed";
  blocks.erase(blocks.begin() + static_cast<std::ptrdiff_t>(first));
  for (void* block : blocks) secbits_free(block);
}

TEST(PoolPageProtection, ClosedPagesReopenLockedAndZeroedForNewBlocks) {
  ScopedPageProtection eager(SECBITS_PROTECT_EAGER);
  {
    SmallBlocks first(256, kPageFillBlocks);
    ASSERT_FALSE(first.full_pages().empty());
    const std::uintptr_t page = first.full_pages().front();
    first.free_all();
    ASSERT_FALSE(secbits::test::is_readable(pointer_at(page))) << "precondition: the emptied page is closed";
  }
  // The pool now has closed pages of this size class to hand out again.
  std::vector<void*> fresh;
  for (int i = 0; i < 128; ++i) {
    void* p = secbits_malloc(256);
    ASSERT_NE(p, nullptr);
    const auto* bytes = static_cast<const unsigned char*>(p);  // faults here if the pool forgot to reopen
    EXPECT_TRUE(std::all_of(bytes, bytes + 256, [](unsigned char b) { return b == 0; })) << "block " << p;
    fill_secret(p, 256);
    fresh.push_back(p);
  }
  std::vector<std::uintptr_t> pages;
  for (void* p : fresh) pages.push_back(address_of(p) / page_size() * page_size());
  std::sort(pages.begin(), pages.end());
  pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
  for (const std::uintptr_t page : pages) expect_locked_and_undumpable(pointer_at(page), 1, "reopened page");
  for (void* p : fresh) secbits_free(p);
}

TEST(PoolPageProtection, CachedClosesEmptyPagesOnCollect) {
  ScopedPageProtection cached(SECBITS_PROTECT_CACHED);
  SmallBlocks blocks(256, kPageFillBlocks);
  ASSERT_FALSE(blocks.full_pages().empty()) << "no page made only of our 256-byte blocks";
  blocks.free_all();
  for (const std::uintptr_t page : blocks.full_pages()) {
    expect_wiped(pointer_at(page), page_size(), "empty page before secbits_collect");
  }
  secbits_collect();
  for (const std::uintptr_t page : blocks.full_pages()) {
    expect_inaccessible(pointer_at(page), page_size(), "empty page after secbits_collect");
  }
}

// The batch is 4 MiB of pages per thread (README): twice that freed leaves
// at most the batch open, and the current slab's empty pages (one slab).
TEST(PoolPageProtection, CachedKeepsAtMostItsBatchOfEmptyPagesOpenWithoutCollect) {
  ScopedPageProtection cached(SECBITS_PROTECT_CACHED);
  constexpr std::size_t kTotal = std::size_t{8} << 20;
  constexpr std::size_t kAllowedOpen = (std::size_t{4} << 20) + (std::size_t{248} << 10);
  SmallBlocks blocks(256, kTotal / 256);
  ASSERT_GE(blocks.full_pages().size() * page_size(), kTotal / 2);
  blocks.free_all();
  const auto seen = blocks.observe_full_pages();
  EXPECT_EQ(seen.nonzero_bytes, 0u);
  EXPECT_LE(seen.open_bytes, kAllowedOpen) << "empty pages left open after freeing " << kTotal << " bytes of small blocks";
  secbits_collect();
  EXPECT_EQ(blocks.observe_full_pages().open_bytes, 0u) << "empty pages left open after secbits_collect";
}

// A batch closes the waiting pages only down to 2 MiB: a working set of 5 MiB
// freed in random order leaves about 3 MiB of it open, where a batch that
// closed every waiting page left only what was freed after it (about 1 MiB),
// and the next round reopened all the rest.
TEST(PoolPageProtection, CachedBatchClosesAboutTheExcessOfTheWorkingSetPastIt) {
  ScopedPageProtection cached(SECBITS_PROTECT_CACHED);
  secbits_collect();  // nothing of earlier tests waits in this thread's batch
  constexpr std::size_t kTotal = std::size_t{5} << 20;
  constexpr std::size_t kBatch = std::size_t{4} << 20;
  constexpr std::size_t kLeftWaiting = std::size_t{2} << 20;
  constexpr std::size_t kLargestSlab = std::size_t{248} << 10;
  SmallBlocks blocks(1024, kTotal / 1024);
  ASSERT_GE(blocks.full_pages().size() * page_size(), kTotal * 9 / 10);
  blocks.free_all_in_random_order(7);
  const auto seen = blocks.observe_full_pages();
  EXPECT_EQ(seen.nonzero_bytes, 0u);
  EXPECT_GE(seen.open_bytes, kLeftWaiting - kLargestSlab) << "a batch closed more than the excess of the working set";
  EXPECT_LE(seen.open_bytes, kBatch + kLargestSlab) << "empty pages left open past the batch";
  secbits_collect();
}

TEST(PoolPageProtection, NoneLeavesEmptyPagesReadableButZero) {
  ScopedPageProtection none(SECBITS_PROTECT_NONE);
  // Few enough blocks to stay in the slab the pool is allocating from: a slab
  // left without any live block may be given back to the reservation, which
  // closes it whatever the policy (as secbits_collect() documents).
  SmallBlocks blocks(256, 128);
  ASSERT_FALSE(blocks.full_pages().empty()) << "no page made only of our 256-byte blocks";
  blocks.free_all();
  for (const std::uintptr_t page : blocks.full_pages()) {
    const auto state = observe_memory(pointer_at(page), page_size());
    EXPECT_EQ(state.readable_bytes, page_size()) << "page closed under SECBITS_PROTECT_NONE";
    EXPECT_EQ(state.nonzero_bytes, 0u) << "freed blocks not wiped";
  }
}

// ---------------------------------------------------------------- misuse aborts

// The message must be one line that names exactly `address` as 0x%lx.
std::string abort_message(const std::string& words, const void* address) {
  char hex[32];
  std::snprintf(hex, sizeof hex, "0x%lx", static_cast<unsigned long>(address_of(address)));
  return "secbits: [^\n]*" + words + "[^\n]*" + hex + "([^0-9a-fx\n][^\n]*)?\n";
}

// Forked death tests: the child must abort on the very address the parent
// computed the expected message from.
class PoolAbort : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "fast"); }
};

TEST_F(PoolAbort, DoubleFreeOfSmallBlockNamesTheAddress) {
  void* p = secbits_malloc(64);
  ASSERT_NE(p, nullptr);
  secbits_free(p);
  EXPECT_DEATH(secbits_free(p), abort_message("double free", p));
}

TEST_F(PoolAbort, DoubleFreeOfSmallBlockOnClosedPageNamesTheAddress) {
  ScopedPageProtection eager(SECBITS_PROTECT_EAGER);
  SmallBlocks blocks(256, 128);  // one slab, which stays in use: see NoneLeavesEmptyPagesReadableButZero
  ASSERT_FALSE(blocks.full_pages().empty());
  void* p = blocks.blocks_on(blocks.full_pages().front()).front();
  blocks.free_all();
  ASSERT_FALSE(secbits::test::is_readable(p));
  EXPECT_DEATH(secbits_free(p), abort_message("double free", p));
}

// A block freed by its owner and again by another thread, or the other way
// round, takes the pool's remote path for one of the two frees.
TEST_F(PoolAbort, DoubleFreeFromAnotherThreadNamesTheAddress) {
  void* p = secbits_malloc(64);
  ASSERT_NE(p, nullptr);
  secbits_free(p);
  EXPECT_DEATH(std::thread([p] { secbits_free(p); }).join(), abort_message("double free", p));
}

TEST_F(PoolAbort, DoubleFreeAfterAnotherThreadFreedTheBlockNamesTheAddress) {
  void* p = secbits_malloc(64);
  ASSERT_NE(p, nullptr);
  std::thread([p] { secbits_free(p); }).join();
  EXPECT_DEATH(secbits_free(p), abort_message("double free", p));
}

TEST_F(PoolAbort, DoubleFreeOfLargeBlockNamesTheAddress) {
  void* p = secbits_malloc(std::size_t{64} << 10);
  ASSERT_NE(p, nullptr);
  secbits_free(p);
  EXPECT_DEATH(secbits_free(p), abort_message("(double free|invalid)", p));
}

// realloc and usable_size take the block the same checked way free does: a
// freed block given to either is a use after free. realloc within the size
// class used to hand the freed block back, one block with two owners.
TEST_F(PoolAbort, ReallocOfFreedSmallBlockWithinItsClassNamesTheAddress) {
  void* p = secbits_malloc(64);
  ASSERT_NE(p, nullptr);
  secbits_free(p);
  EXPECT_DEATH(secbits_realloc(p, 60), abort_message("realloc of a freed block", p));
}

TEST_F(PoolAbort, ReallocOfFreedSmallBlockToAnotherClassNamesTheAddress) {
  void* p = secbits_malloc(64);
  ASSERT_NE(p, nullptr);
  secbits_free(p);
  EXPECT_DEATH(secbits_realloc(p, 4000), abort_message("realloc of a freed block", p));
}

TEST_F(PoolAbort, ReallocOfSmallBlockAnotherThreadFreedNamesTheAddress) {
  void* p = secbits_malloc(64);
  ASSERT_NE(p, nullptr);
  std::thread([p] { secbits_free(p); }).join();
  EXPECT_DEATH(secbits_realloc(p, 64), abort_message("realloc of a freed block", p));
}

TEST_F(PoolAbort, ReallocOfFreedLargeBlockNamesTheAddress) {
  void* p = secbits_malloc(std::size_t{64} << 10);
  ASSERT_NE(p, nullptr);
  secbits_free(p);
  EXPECT_DEATH(secbits_realloc(p, std::size_t{60} << 10), abort_message("realloc of a freed block", p));
}

TEST_F(PoolAbort, UsableSizeOfFreedSmallBlockNamesTheAddress) {
  void* p = secbits_malloc(64);
  ASSERT_NE(p, nullptr);
  secbits_free(p);
  EXPECT_DEATH(secbits_usable_size(p), abort_message("usable size asked of a freed block", p));
}

TEST_F(PoolAbort, UsableSizeOfFreedLargeBlockNamesTheAddress) {
  void* p = secbits_malloc(std::size_t{64} << 10);
  ASSERT_NE(p, nullptr);
  secbits_free(p);
  EXPECT_DEATH(secbits_usable_size(p), abort_message("usable size asked of a freed block", p));
}

TEST_F(PoolAbort, InteriorPointerOfSmallBlockNamesTheAddress) {
  auto* p = static_cast<char*>(secbits_malloc(64));
  ASSERT_NE(p, nullptr);
  EXPECT_DEATH(secbits_free(p + 16), abort_message("invalid", p + 16));
  secbits_free(p);
}

TEST_F(PoolAbort, InteriorPointerOfLargeBlockNamesTheAddress) {
  auto* p = static_cast<char*>(secbits_malloc(std::size_t{64} << 10));
  ASSERT_NE(p, nullptr);
  EXPECT_DEATH(secbits_free(p + 4096), abort_message("invalid", p + 4096));
  secbits_free(p);
}

// The contract names no wording for a pointer outside the pool, only that it
// aborts like the others, naming the address.
constexpr const char* kNotOwned = "(invalid|not own)";

TEST_F(PoolAbort, FreeOfStackAddressNamesTheAddress) {
  int on_stack = 0;
  EXPECT_DEATH(secbits_free(&on_stack), abort_message(kNotOwned, &on_stack));
}

TEST_F(PoolAbort, FreeOfLibcMallocMemoryNamesTheAddress) {
  void* from_libc = std::malloc(64);
  ASSERT_NE(from_libc, nullptr);
  EXPECT_DEATH(secbits_free(from_libc), abort_message(kNotOwned, from_libc));
  std::free(from_libc);
}

}  // namespace
