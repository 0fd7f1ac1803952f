// The secure pool when the kernel refuses to lock more memory: each case runs
// in a forked child that drops CAP_IPC_LOCK and lowers RLIMIT_MEMLOCK (root
// ignores the limit otherwise). Strict fails cleanly (NULL + ENOMEM,
// std::bad_alloc) and never hands out unlocked memory; Degrade serves
// unlocked memory that is still undumpable and wiped, and says so once.
#include <secbits/secbits.h>

#include <secbits/allocator.hpp>
#include <secbits/memory_resource.hpp>
#include <secbits/pool.hpp>
#include <secbits/secure_new.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "support/child.hpp"
#include "support/lock_budget.hpp"
#include "support/probe.hpp"
#include "support/smaps.hpp"

namespace {

constexpr std::size_t kBudget = 64 * 1024;
constexpr std::size_t kBlock = 64 * 1024;
constexpr std::size_t kTotal = 4 * 1024 * 1024;

// The child reports the first broken expectation on stdout and exits with 1.
int fail(const std::string& why) {
  std::cout << "FAILED: " << why << std::endl;
  return 1;
}

// VmFlags "lo" is the kernel's VM_LOCKED. The Locked: figure is no help
// here: smaps reports it proportionally, and a forked child shares its
// parent's pages until either writes them, so it can be half of Rss.
bool is_locked(const secbits::test::Mapping* mapping) { return mapping != nullptr && mapping->has_flag("lo"); }

bool is_locked(const void* pointer) {
  const auto mapping = secbits::test::mapping_containing(pointer);
  return is_locked(mapping ? &*mapping : nullptr);
}

template <class Allocate>
bool throws_bad_alloc(Allocate allocate) {
  try {
    allocate();
  } catch (const std::bad_alloc&) {
    return true;
  }
  return false;
}

TEST(PoolLockPolicy, StrictFailsWithEnomemAndBadAllocOnceTheLockBudgetIsSpent) {
  const auto result = secbits::test::run_in_child([] {
    if (!secbits::test::drop_lock_privilege(kBudget)) return fail("could not drop CAP_IPC_LOCK");
    std::vector<void*> blocks;
    int failure = 0;
    for (std::size_t total = 0; total < kTotal; total += kBlock) {
      errno = 0;
      void* p = secbits_malloc(kBlock);
      if (p == nullptr) {
        failure = errno;
        break;
      }
      // Whatever Strict serves is locked; beyond the budget it cannot be.
      if (!is_locked(p)) return fail("block " + std::to_string(blocks.size()) + " served without being locked");
      blocks.push_back(p);
    }
    if (failure == 0) return fail("4 MiB served under a 64 KiB lock budget");
    if (failure != ENOMEM) return fail(std::string("secbits_malloc failed with ") + std::strerror(failure));

    errno = 0;
    if (secbits_calloc(1, kBlock) != nullptr || errno != ENOMEM) return fail("secbits_calloc did not fail with ENOMEM");
    errno = 0;
    if (secbits_aligned_alloc(4096, kBlock) != nullptr || errno != ENOMEM) {
      return fail("secbits_aligned_alloc did not fail with ENOMEM");
    }
    if (!throws_bad_alloc([] { secbits::secure_new<std::array<char, kBlock>>(); })) {
      return fail("secure_new did not throw std::bad_alloc");
    }
    if (!throws_bad_alloc([] {
          secbits::secure_vector<char> characters(kBlock);
          (void)characters;
        })) {
      return fail("secure_vector did not throw std::bad_alloc");
    }
    if (!throws_bad_alloc([] { (void)secbits::secure_memory_resource()->allocate(kBlock, 64); })) {
      return fail("secure_memory_resource did not throw std::bad_alloc");
    }
    if (secbits::stats().lock_failures == 0) return fail("stats.lock_failures is 0");

    // Small blocks come from slabs that must be locked as a whole.
    std::vector<void*> small;
    for (std::size_t total = 0; total < kTotal; total += 256) {
      errno = 0;
      void* p = secbits_malloc(256);
      if (p == nullptr) {
        failure = errno;
        break;
      }
      small.push_back(p);
    }
    if (small.size() * 256 >= kTotal) return fail("4 MiB of small blocks served under a 64 KiB lock budget");
    if (failure != ENOMEM) return fail(std::string("small secbits_malloc failed with ") + std::strerror(failure));
    const auto mappings = secbits::test::all_mappings();
    for (void* p : small) {
      if (!is_locked(secbits::test::find_mapping(mappings, p))) return fail("small block served without being locked");
    }
    for (void* p : small) secbits_free(p);

    if (!blocks.empty()) {
      // A failed growth leaves the block as it was.
      std::memset(blocks[0], 0x3C, kBlock);
      errno = 0;
      if (secbits_realloc(blocks[0], 1 << 20) != nullptr || errno != ENOMEM) {
        return fail("secbits_realloc did not fail with ENOMEM");
      }
      const auto* bytes = static_cast<const unsigned char*>(blocks[0]);
      if (bytes[0] != 0x3C || bytes[kBlock - 1] != 0x3C) return fail("failed realloc changed the block");
      // The refusal is not sticky: freed memory gives the budget back.
      for (void* p : blocks) secbits_free(p);
      secbits_collect();
      void* again = secbits_malloc(kBlock);
      if (again == nullptr) return fail("no 64 KiB block after freeing every block");
      if (!is_locked(again)) return fail("block served after freeing is not locked");
      secbits_free(again);
    }
    return 0;
  });
  ASSERT_TRUE(result.exited) << "killed by signal " << result.term_signal << ": " << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

TEST(PoolLockPolicy, DegradeServesUnlockedButUndumpableWipedMemoryAndWarnsOnce) {
  const auto result = secbits::test::run_in_child([] {
    if (!secbits::test::drop_lock_privilege(kBudget)) return fail("could not drop CAP_IPC_LOCK");
    secbits_set_lock_policy(SECBITS_LOCK_DEGRADE);

    std::vector<void*> large;
    std::vector<void*> small;
    for (std::size_t total = 0; total < kTotal; total += kBlock) {
      void* p = secbits_malloc(kBlock);
      if (p == nullptr) return fail("secbits_malloc(64 KiB) failed under SECBITS_LOCK_DEGRADE");
      std::memset(p, 0xA5, kBlock);
      large.push_back(p);
    }
    for (int i = 0; i < 2000; ++i) {  // 512 KB of small blocks, far beyond the budget too
      void* p = secbits_malloc(256);
      if (p == nullptr) return fail("secbits_malloc(256) failed under SECBITS_LOCK_DEGRADE");
      std::memset(p, 0xA5, 256);
      small.push_back(p);
    }
    auto* object = secbits::secure_new<std::array<unsigned char, kBlock>>();
    secbits::secure_vector<char> characters(kBlock, 'v');
    secbits::secure_delete(object);

    std::size_t unlocked = 0;
    const auto mappings = secbits::test::all_mappings();
    for (const auto& blocks : {large, small}) {
      for (void* p : blocks) {
        const auto* mapping = secbits::test::find_mapping(mappings, p);
        if (mapping == nullptr || !mapping->has_flag("dd")) return fail("block is not MADV_DONTDUMP");
        if (!is_locked(mapping)) ++unlocked;
      }
    }
    if (unlocked == 0) return fail("every block is locked: the budget was not exceeded, the test proves nothing");
    const secbits::PoolStats stats = secbits::stats();
    if (stats.bytes_unlocked == 0) return fail("stats.bytes_unlocked is 0");
    if (stats.lock_failures == 0) return fail("stats.lock_failures is 0");

    for (void* p : small) secbits_free(p);
    for (void* p : small) {
      const auto state = secbits::test::observe_memory(p, 256);
      if (!state.wiped_or_inaccessible()) return fail("freed small block still readable with its data");
    }
    for (void* p : large) secbits_free(p);
    for (void* p : large) {
      if (!secbits::test::observe_memory(p, kBlock).wiped_or_inaccessible()) return fail("freed large block not wiped");
    }
    secbits_collect();
    for (void* p : large) {
      if (!secbits::test::observe_memory(p, kBlock).inaccessible()) return fail("freed large block readable after collect");
    }
    return 0;
  });
  ASSERT_TRUE(result.exited) << "killed by signal " << result.term_signal << ": " << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
  // One warning, one line, nothing else written.
  std::istringstream lines(result.output);
  std::vector<std::string> written;
  for (std::string line; std::getline(lines, line);) written.push_back(line);
  ASSERT_EQ(written.size(), 1u) << result.output;
  EXPECT_EQ(written[0].rfind("secbits: ", 0), 0u) << result.output;
  EXPECT_EQ(result.output.back(), '\n');
}

TEST(PoolLockPolicy, DegradeFreedSmallBlocksOfUnlockedSlabsReadBackAsZero) {
  // With SECBITS_PROTECT_NONE the pool leaves the pages of freed blocks open
  // (except in slabs it gives back whole), so the wipe itself is what keeps
  // the old bytes from being read, and it can be seen.
  const auto result = secbits::test::run_in_child([] {
    if (!secbits::test::drop_lock_privilege(kBudget)) return fail("could not drop CAP_IPC_LOCK");
    secbits_set_lock_policy(SECBITS_LOCK_DEGRADE);
    secbits_set_page_protection(SECBITS_PROTECT_NONE);
    // Slabs the parent committed before the fork may serve the first blocks:
    // go on until the pool has had to commit unlocked ones.
    constexpr std::size_t kAtLeast = 2000;
    constexpr std::size_t kAtMost = std::size_t{64} << 10;  // 16 MiB of 256-byte blocks
    std::vector<void*> small;
    const auto some_unlocked = [&small] { return small.size() % 256 == 0 && secbits::stats().bytes_unlocked != 0; };
    while (small.size() < kAtLeast || !some_unlocked()) {
      if (small.size() == kAtMost) return fail("16 MiB of small blocks and stats.bytes_unlocked is still 0");
      void* p = secbits_malloc(256);
      if (p == nullptr) return fail("secbits_malloc(256) failed under SECBITS_LOCK_DEGRADE");
      std::memset(p, 0xA5, 256);
      small.push_back(p);
    }
    const auto mappings = secbits::test::all_mappings();
    std::vector<bool> unlocked;
    for (void* p : small) unlocked.push_back(!is_locked(secbits::test::find_mapping(mappings, p)));

    for (void* p : small) secbits_free(p);
    std::size_t seen_wiped = 0;  // blocks of unlocked slabs read back after their free
    for (std::size_t i = 0; i < small.size(); ++i) {
      const auto state = secbits::test::observe_memory(small[i], 256);
      if (state.nonzero_bytes != 0) return fail("freed small block not wiped");
      if (unlocked[i] && state.readable_bytes == 256) ++seen_wiped;
    }
    if (seen_wiped == 0) return fail("no freed block of an unlocked slab stayed readable: the wipe was not observed");
    return 0;
  });
  ASSERT_TRUE(result.exited) << "killed by signal " << result.term_signal << ": " << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

// Memory the pool keeps only for reuse (a freed large span, empty slabs) is
// locked, and holds lock budget. When the kernel refuses a lock, the pool
// gives that memory back and tries again before it fails (strict) or serves
// unlocked memory (degrade). Each case runs with Debian's default budget.
constexpr std::size_t kDebianBudget = std::size_t{8} << 20;

TEST(PoolLockPolicy, StrictReusesTheBudgetAFreedLargeBlockHeld) {
  const auto result = secbits::test::run_in_child([] {
    if (!secbits::test::drop_lock_privilege(kDebianBudget)) return fail("could not drop CAP_IPC_LOCK");
    void* large = secbits_malloc(std::size_t{6} << 20);
    if (large == nullptr) return fail("secbits_malloc(6 MiB) failed under an 8 MiB budget");
    secbits_free(large);  // nothing live now
    std::vector<void*> blocks;
    for (int i = 0; i < 4096; ++i) {
      void* p = secbits_malloc(1024);
      if (p == nullptr) {
        return fail("only " + std::to_string(blocks.size()) + " of 4096 secbits_malloc(1024) served: " +
                    secbits::test::describe_lock_budget());
      }
      blocks.push_back(p);
    }
    for (void* p : blocks) secbits_free(p);
    return 0;
  });
  ASSERT_TRUE(result.exited) << "killed by signal " << result.term_signal << ": " << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

TEST(PoolLockPolicy, DegradeLocksLiveSecretsBeforeTheCacheOfAFreedLargeBlock) {
  const auto result = secbits::test::run_in_child([] {
    if (!secbits::test::drop_lock_privilege(kDebianBudget)) return fail("could not drop CAP_IPC_LOCK");
    secbits_set_lock_policy(SECBITS_LOCK_DEGRADE);
    void* large = secbits_malloc(std::size_t{6} << 20);
    if (large == nullptr) return fail("secbits_malloc(6 MiB) failed");
    secbits_free(large);
    std::vector<void*> blocks;
    for (int i = 0; i < 2048; ++i) {
      void* p = secbits_malloc(1024);
      if (p == nullptr) return fail("secbits_malloc(1024) failed under degrade");
      blocks.push_back(p);
    }
    const auto mappings = secbits::test::all_mappings();
    for (void* p : blocks) {
      if (!is_locked(secbits::test::find_mapping(mappings, p))) return fail("a live 1 KiB secret is not locked");
    }
    if (secbits::stats().bytes_unlocked != 0) return fail("stats report unlocked bytes while the cache held budget");
    for (void* p : blocks) secbits_free(p);
    return 0;
  });
  ASSERT_TRUE(result.exited) << "killed by signal " << result.term_signal << ": " << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output.find("secbits: "), std::string::npos) << "degrade warned: " << result.output;
}

// In a child under Debian's budget: `small_kib` KiB of 1 KiB blocks made and
// freed, collected or not, then one block of `large_bytes`, which must be
// served and locked.
int large_block_after_freeing_small_ones(std::size_t small_kib, bool collect, std::size_t large_bytes) {
  if (!secbits::test::drop_lock_privilege(kDebianBudget)) return fail("could not drop CAP_IPC_LOCK");
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < small_kib; ++i) {
    void* p = secbits_malloc(1024);
    if (p == nullptr) return fail("secbits_malloc(1024) failed: " + secbits::test::describe_lock_budget());
    blocks.push_back(p);
  }
  for (void* p : blocks) secbits_free(p);
  if (collect) secbits_collect();
  void* large = secbits_malloc(large_bytes);
  if (large == nullptr) {
    return fail("secbits_malloc(" + std::to_string(large_bytes) + ") failed after " + std::to_string(small_kib) +
                " KiB of small blocks were freed" + (collect ? " and collected: " : ": ") +
                secbits::test::describe_lock_budget());
  }
  if (!is_locked(large)) return fail("the large block is not locked");
  secbits_free(large);
  return 0;
}

TEST(PoolLockPolicy, StrictReusesTheBudgetCollectedEmptySlabsHeld) {
  const auto result = secbits::test::run_in_child([] { return large_block_after_freeing_small_ones(2048, true, 7 << 20); });
  ASSERT_TRUE(result.exited) << "killed by signal " << result.term_signal << ": " << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

// Without secbits_collect(): the empty slabs of blocks a thread freed wait in
// its batch of pages to close, locked, until a batch gives them back. A lock
// the kernel refuses makes the thread give them back first.
TEST(PoolLockPolicy, StrictReusesTheBudgetEmptySlabsWaitingInTheThreadsBatchHeld) {
  const auto result = secbits::test::run_in_child([] { return large_block_after_freeing_small_ones(6144, false, 6 << 20); });
  ASSERT_TRUE(result.exited) << "killed by signal " << result.term_signal << ": " << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

}  // namespace
