// The secure pool under concurrent use: several threads allocate and free at
// random, and hand a share of their blocks to other threads that free them
// (cross-thread frees). No live block may ever be touched by the pool or
// overlap another one, every block starts zeroed, and once everything is
// freed the pool's accounting is back where it started. Freed blocks are
// wiped whichever thread frees them, and pages emptied by another thread's
// frees are closed as the page protection policy says. Runs under
// ThreadSanitizer too: every handoff goes through a mutex or a latch.
//
// Four threads with slabs of every size class need about 18 MiB locked: run
// with CAP_IPC_LOCK (root) or an RLIMIT_MEMLOCK above the 8 MiB default.
#include <secbits/secbits.h>

#include <secbits/pool.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <latch>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "support/lock_budget.hpp"
#include "support/probe.hpp"

namespace {

// ThreadSanitizer makes this loop about ten times slower: a million per
// thread took 25 s on two idle cores, and over a minute on a loaded machine.
// AddressSanitizer keeps the full count: it costs it less than a factor two.
#if defined(__SANITIZE_THREAD__)
constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif
#else
constexpr bool kThreadSanitizer = false;
#endif

constexpr int kThreads = 4;
constexpr std::size_t kAllocationsPerThread = kThreadSanitizer ? 250'000 : 1'000'000;
constexpr std::size_t kSlotsPerThread = 512;
constexpr std::uint64_t kHandOffOneIn = 8;
constexpr std::size_t kDrainEvery = 64;

struct Block {
  unsigned char* data = nullptr;
  std::size_t size = 0;
};

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// The content is a function of the block's own address: a block that
// overlaps another, or that the pool wipes or reuses while it is live, no
// longer matches.
std::uint64_t word_at(const Block& block, std::size_t index) {
  return mix(reinterpret_cast<std::uintptr_t>(block.data)) + index * 0x9E3779B97F4A7C15ULL;
}

void fill(const Block& block) {
  auto* words = reinterpret_cast<std::uint64_t*>(block.data);  // blocks are 16-byte aligned
  const std::size_t count = block.size / 8;
  for (std::size_t i = 0; i < count; ++i) words[i] = word_at(block, i);
  const std::uint64_t tail = word_at(block, count);
  for (std::size_t i = count * 8; i < block.size; ++i) block.data[i] = static_cast<unsigned char>(tail >> (i % 8 * 8));
}

bool intact(const Block& block) {
  const auto* words = reinterpret_cast<const std::uint64_t*>(block.data);
  const std::size_t count = block.size / 8;
  std::uint64_t difference = 0;
  for (std::size_t i = 0; i < count; ++i) difference |= words[i] ^ word_at(block, i);
  const std::uint64_t tail = word_at(block, count);
  for (std::size_t i = count * 8; i < block.size; ++i) {
    difference |= block.data[i] ^ static_cast<unsigned char>(tail >> (i % 8 * 8));
  }
  return difference == 0;
}

bool all_zero(const Block& block) {
  const auto* words = reinterpret_cast<const std::uint64_t*>(block.data);
  std::uint64_t bits = 0;
  for (std::size_t i = 0; i < block.size / 8; ++i) bits |= words[i];
  for (std::size_t i = block.size / 8 * 8; i < block.size; ++i) bits |= block.data[i];
  return bits == 0;
}

// 16 B .. 16 KiB, weighted to small blocks, and a few page runs up to 64 KiB.
std::size_t random_size(std::mt19937_64& random) {
  const auto pick = [&random](std::size_t low, std::size_t high) { return low + random() % (high - low + 1); };
  const std::uint64_t bucket = random() % 1000;
  if (bucket < 700) return pick(16, 256);
  if (bucket < 950) return pick(257, 4096);
  if (bucket < 995) return pick(4097, 16384);
  return pick(16385, 65536);
}

struct Mailbox {
  std::mutex mutex;
  std::vector<Block> blocks;
};

struct Failures {
  std::atomic<std::size_t> null_blocks{0};
  std::atomic<std::size_t> bad_blocks{0};     // not owned, misaligned, or usable size below the request
  std::atomic<std::size_t> not_zeroed{0};     // a new block that did not start zeroed
  std::atomic<std::size_t> corrupted{0};      // a live block whose content changed
  std::atomic<std::size_t> cross_frees{0};    // blocks freed by a thread other than their allocator
};

class Worker {
 public:
  Worker(int index, std::array<Mailbox, kThreads>& mailboxes, Failures& failures)
      : index_(index), mailboxes_(mailboxes), failures_(failures), random_(0xB10C5 + static_cast<unsigned>(index)) {}

  void run() {
    std::vector<Block> slots(kSlotsPerThread);
    for (std::size_t i = 0; i < kAllocationsPerThread; ++i) {
      if (i % kDrainEvery == 0) drain_own_mailbox();
      Block& slot = slots[random_() % slots.size()];
      if (slot.data != nullptr) release(slot);
      slot = allocate();
      if (slot.data == nullptr) return;
    }
    for (Block& slot : slots) {
      if (slot.data != nullptr) free_checked(slot, /*cross_thread=*/false);
    }
    drain_own_mailbox();
  }

 private:
  Block allocate() {
    Block block{nullptr, random_size(random_)};
    block.data = static_cast<unsigned char*>(secbits_malloc(block.size));
    if (block.data == nullptr) {
      failures_.null_blocks.fetch_add(1, std::memory_order_relaxed);
      return block;
    }
    if (!secbits_owns(block.data) || reinterpret_cast<std::uintptr_t>(block.data) % 16 != 0 ||
        secbits_usable_size(block.data) < block.size) {
      failures_.bad_blocks.fetch_add(1, std::memory_order_relaxed);
    }
    if (!all_zero(block)) failures_.not_zeroed.fetch_add(1, std::memory_order_relaxed);
    fill(block);
    return block;
  }

  void release(Block& block) {
    if (random_() % kHandOffOneIn == 0) {
      const int to = (index_ + 1 + static_cast<int>(random_() % (kThreads - 1))) % kThreads;
      std::lock_guard lock(mailboxes_[static_cast<std::size_t>(to)].mutex);
      mailboxes_[static_cast<std::size_t>(to)].blocks.push_back(block);
    } else {
      free_checked(block, /*cross_thread=*/false);
    }
    block = Block{};
  }

  void drain_own_mailbox() {
    std::vector<Block> received;
    {
      std::lock_guard lock(mailboxes_[static_cast<std::size_t>(index_)].mutex);
      received.swap(mailboxes_[static_cast<std::size_t>(index_)].blocks);
    }
    for (const Block& block : received) free_checked(block, /*cross_thread=*/true);
  }

  void free_checked(const Block& block, bool cross_thread) {
    if (!intact(block)) failures_.corrupted.fetch_add(1, std::memory_order_relaxed);
    if (cross_thread) failures_.cross_frees.fetch_add(1, std::memory_order_relaxed);
    secbits_free(block.data);
  }

  int index_;
  std::array<Mailbox, kThreads>& mailboxes_;
  Failures& failures_;
  std::mt19937_64 random_;
};

TEST(PoolThreads, RandomAllocationsWithCrossThreadFreesKeepEveryBlockIntact) {
  const std::size_t baseline = secbits::stats().bytes_in_use;
  std::array<Mailbox, kThreads> mailboxes;
  Failures failures;
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] { Worker(t, mailboxes, failures).run(); });
    }
    for (auto& thread : threads) thread.join();
  }
  // Blocks handed over after their receiver's last drain: freed here, by a
  // thread that allocated none of them, after their allocators have exited.
  for (auto& mailbox : mailboxes) {
    std::lock_guard lock(mailbox.mutex);
    for (const Block& block : mailbox.blocks) {
      if (!intact(block)) failures.corrupted.fetch_add(1);
      failures.cross_frees.fetch_add(1);
      secbits_free(block.data);
    }
    mailbox.blocks.clear();
  }

  EXPECT_EQ(failures.null_blocks.load(), 0u)
      << secbits::stats().lock_failures << " lock failures, " << secbits::stats().bytes_locked << " bytes locked; "
      << secbits::test::describe_lock_budget();
  EXPECT_EQ(failures.bad_blocks.load(), 0u);
  EXPECT_EQ(failures.not_zeroed.load(), 0u);
  EXPECT_EQ(failures.corrupted.load(), 0u);
  // About one block in eight changes threads; make sure the test did that.
  EXPECT_GT(failures.cross_frees.load(), kThreads * kAllocationsPerThread / kHandOffOneIn / 2);
  EXPECT_EQ(secbits::stats().bytes_in_use, baseline);
}

TEST(PoolThreads, BlockFreedOnAnotherThreadIsWipedAndComesBackZeroed) {
  constexpr std::size_t kBlocks = 1000;
  const std::size_t baseline = secbits::stats().bytes_in_use;
  std::vector<Block> blocks;
  std::thread([&] {
    for (std::size_t i = 0; i < kBlocks; ++i) {
      Block block{static_cast<unsigned char*>(secbits_malloc(200)), 200};
      if (block.data == nullptr) return;
      fill(block);
      blocks.push_back(block);
    }
  }).join();
  ASSERT_EQ(blocks.size(), kBlocks);
  std::thread([&] {
    for (const Block& block : blocks) secbits_free(block.data);
  }).join();
  EXPECT_EQ(secbits::stats().bytes_in_use, baseline);

  std::size_t readable_secrets = 0;
  for (const Block& block : blocks) {
    if (!secbits::test::observe_memory(block.data, block.size).wiped_or_inaccessible()) ++readable_secrets;
  }
  EXPECT_EQ(readable_secrets, 0u) << "blocks freed on another thread still hold their data";

  // A new thread, so that the blocks it gets may be the very ones freed above
  // (a fresh thread may take over the heap of one that exited).
  std::size_t not_zeroed = 0;
  std::size_t failed = 0;
  std::thread([&] {
    std::vector<void*> again;
    for (std::size_t i = 0; i < kBlocks; ++i) {
      Block block{static_cast<unsigned char*>(secbits_malloc(200)), 200};
      if (block.data == nullptr) {
        ++failed;
        continue;
      }
      if (!all_zero(block)) ++not_zeroed;
      again.push_back(block.data);
    }
    for (void* p : again) secbits_free(p);
  }).join();
  EXPECT_EQ(failed, 0u);
  EXPECT_EQ(not_zeroed, 0u);
}

// ---------------------------------------------------------------- pages emptied by other threads

class ScopedPageProtection {
 public:
  explicit ScopedPageProtection(secbits_page_protection protection) { secbits_set_page_protection(protection); }
  ~ScopedPageProtection() { secbits_set_page_protection(SECBITS_PROTECT_CACHED); }
  ScopedPageProtection(const ScopedPageProtection&) = delete;
  ScopedPageProtection& operator=(const ScopedPageProtection&) = delete;
};

// 256-byte blocks filled with a pattern, allocated by the calling thread, and
// the pages that consist of nothing but these blocks.
struct PageFill {
  std::vector<Block> blocks;
  std::vector<std::uintptr_t> full_pages;

  explicit PageFill(std::size_t count) {
    const std::size_t page = secbits::test::page_size();
    std::map<std::uintptr_t, std::size_t> covered;  // page -> bytes of it inside our blocks
    for (std::size_t i = 0; i < count; ++i) {
      Block block{static_cast<unsigned char*>(secbits_malloc(256)), 256};
      if (block.data == nullptr) return;
      block.size = secbits_usable_size(block.data);
      fill(block);
      blocks.push_back(block);
      const auto start = reinterpret_cast<std::uintptr_t>(block.data);
      const std::uintptr_t end = start + block.size;
      for (std::uintptr_t p = start / page * page; p < end; p += page) {
        covered[p] += std::min(end, p + page) - std::max(start, p);
      }
    }
    for (const auto& [start, bytes] : covered) {
      if (bytes == page) full_pages.push_back(start);
    }
  }

  std::size_t readable_full_pages() const {
    std::size_t readable = 0;
    for (const std::uintptr_t page : full_pages) {
      readable += secbits::test::is_readable(reinterpret_cast<const void*>(page)) ? 1 : 0;
    }
    return readable;
  }
};

// A one-shot signal between two threads; opening it twice is harmless.
class Gate {
 public:
  void open() {
    if (!opened_.exchange(true)) latch_.count_down();
  }
  void wait() { latch_.wait(); }

 private:
  std::atomic<bool> opened_{false};
  std::latch latch_{1};
};

// Opens a gate when the test body ends, however it ends (a failed ASSERT
// returns early), so that the thread waiting on it can be joined.
class OpenOnExit {
 public:
  explicit OpenOnExit(Gate& gate) : gate_(gate) {}
  ~OpenOnExit() { gate_.open(); }
  OpenOnExit(const OpenOnExit&) = delete;
  OpenOnExit& operator=(const OpenOnExit&) = delete;

 private:
  Gate& gate_;
};

// Enough blocks that some pages are made of nothing else, even when the
// thread's heap already has scattered free blocks of this size.
constexpr std::size_t kPageFillBlocks = 1024;

// Fills whole pages from a thread that stays alive (its heap is not
// orphaned), frees every block from this thread, then lets the owner
// collect; returns how many of the filled pages are still readable after.
// With `check_wiped`, also checks that each block reads as zeros (or not at
// all) right after the free, before the owner has done anything.
std::size_t pages_left_open_after_owner_collects(const char* policy_name, bool check_wiped) {
  std::optional<PageFill> owned;
  Gate allocated;
  Gate freed;
  Gate collected;
  Gate checked;
  std::jthread owner([&] {
    owned.emplace(kPageFillBlocks);
    allocated.open();
    freed.wait();
    secbits_collect();
    collected.open();
    checked.wait();
  });
  const OpenOnExit release_owner(checked);
  const OpenOnExit let_owner_collect(freed);
  allocated.wait();
  EXPECT_EQ(owned->blocks.size(), kPageFillBlocks) << policy_name;
  EXPECT_FALSE(owned->full_pages.empty()) << policy_name;
  for (const Block& block : owned->blocks) secbits_free(block.data);
  if (check_wiped) {
    // Wiped at once, by the freeing thread, whether the page is open or not.
    for (const Block& block : owned->blocks) {
      const auto bytes = secbits::test::read_memory(block.data, block.size);
      if (bytes) {
        EXPECT_TRUE(std::all_of(bytes->begin(), bytes->end(), [](std::byte b) { return b == std::byte{0}; }));
      }
    }
  }
  freed.open();
  collected.wait();
  const std::size_t open = owned->readable_full_pages();
  if (open != 0) ADD_FAILURE() << open << " of " << owned->full_pages.size() << " empty pages still open under " << policy_name;
  return open;
}

// A free from another thread is lock-free: it wipes the block and marks it in
// the slab's remote bitmap, and cannot know whether the page still holds
// other live blocks (the owner's counts are the owner's). Even under
// EAGER, the page closes when the owner collects, which the owner's next
// allocation that runs out of blocks, or secbits_collect(), does.
TEST(PoolThreads, EagerFreeFromAnotherThreadClosesThePageWhenTheOwnerCollects) {
  ScopedPageProtection eager(SECBITS_PROTECT_EAGER);
  EXPECT_EQ(pages_left_open_after_owner_collects("SECBITS_PROTECT_EAGER", true), 0u);
}

TEST(PoolThreads, PagesEmptiedByAnotherThreadCloseWhenTheOwnerCollects) {
  ScopedPageProtection cached(SECBITS_PROTECT_CACHED);
  EXPECT_EQ(pages_left_open_after_owner_collects("SECBITS_PROTECT_CACHED", false), 0u);
}

TEST(PoolThreads, PagesOfAThreadThatExitedCloseOnceTheirBlocksAreFreedAndCollected) {
  ScopedPageProtection cached(SECBITS_PROTECT_CACHED);
  constexpr std::size_t kBlocks = std::size_t{4} << 20 >> 8;  // 4 MiB: past the ~1 MiB batch of any thread
  std::optional<PageFill> owned;
  std::thread([&] { owned.emplace(kBlocks); }).join();
  ASSERT_EQ(owned->blocks.size(), kBlocks);
  // Every page was full of live blocks when the thread exited; they empty now.
  for (const Block& block : owned->blocks) secbits_free(block.data);
  secbits_collect();
  EXPECT_EQ(owned->readable_full_pages(), 0u)
      << "of " << owned->full_pages.size() << " pages emptied after their thread exited, 4 MiB freed and collected";
}

}  // namespace
