// fork() of a process with a large pool: the child must not copy it. Memory
// locks are not inherited, and locking the child's pool the ordinary way
// faults every page in for writing, which breaks copy-on-write for all of
// them at once (512 MiB of pool: 512 MiB copied, 0.35-0.6 s per fork). The
// child locks at its first call into the pool, on touch; what it only reads
// stays shared with the parent, and locked by it.
#include <secbits/secbits.h>

#include <gtest/gtest.h>

#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "support/child.hpp"
#include "support/smaps.hpp"

namespace {

constexpr std::size_t kSmallBlock = 1024;
constexpr std::size_t kSmallBlocks = 32768;  // 32 MiB
constexpr std::size_t kLargeBlock = std::size_t{8} << 20;
constexpr std::size_t kLargeBlocks = 4;  // 32 MiB

/// Private_Dirty of the pool's mappings: what this process has of its own.
std::size_t pool_private_dirty_kb() {
  std::size_t total = 0;
  for (const auto& mapping : secbits::test::all_mappings()) {
    if (secbits_owns(reinterpret_cast<const void*>(mapping.start))) total += mapping.private_dirty_kb;
  }
  return total;
}

TEST(PoolFork, ChildSharesThePoolItOnlyReadsAndLocksWhatItWrites) {
  std::vector<unsigned char*> blocks;
  for (std::size_t i = 0; i < kSmallBlocks; ++i) blocks.push_back(static_cast<unsigned char*>(secbits_malloc(kSmallBlock)));
  for (std::size_t i = 0; i < kLargeBlocks; ++i) blocks.push_back(static_cast<unsigned char*>(secbits_malloc(kLargeBlock)));
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    ASSERT_NE(blocks[i], nullptr);
    std::memset(blocks[i], 0x5A, i < kSmallBlocks ? kSmallBlock : kLargeBlock);
  }
  ASSERT_GE(pool_private_dirty_kb(), 60u << 10) << "the parent's pool is not resident: nothing to share";

  const auto result = secbits::test::run_in_child([&blocks] {
    const std::size_t inherited_kb = pool_private_dirty_kb();
    // A little is the child's own: the pages its first allocations touch.
    if (inherited_kb > (4u << 10)) {
      std::cout << "FAILED: the child has " << inherited_kb << " kB of the pool of its own right after fork" << std::endl;
      return 1;
    }
    // The child's first call into the pool locks it.
    void* first = secbits_malloc(100);
    if (first == nullptr) return 5;
    secbits_free(first);
    if (pool_private_dirty_kb() > (4u << 10)) {
      std::cout << "FAILED: locking the child's pool copied it" << std::endl;
      return 6;
    }
    // The inherited blocks are intact, and what the child writes is locked.
    unsigned char* small = blocks.front();
    unsigned char* large = blocks.back();
    if (small[0] != 0x5A || large[kLargeBlock - 1] != 0x5A) return 2;
    std::memset(small, 0x11, kSmallBlock);
    std::memset(large, 0x11, kLargeBlock);
    const auto mappings = secbits::test::all_mappings();
    for (const void* written : {static_cast<const void*>(small), static_cast<const void*>(large)}) {
      const auto* mapping = secbits::test::find_mapping(mappings, written);
      if (mapping == nullptr || !mapping->has_flag("lo") || !mapping->has_flag("dd")) {
        std::cout << "FAILED: a block the child wrote is not in a locked, undumpable mapping" << std::endl;
        return 3;
      }
    }
    // The child's own blocks still come from the pool.
    void* fresh = secbits_malloc(kLargeBlock);
    if (fresh == nullptr) return 4;
    secbits_free(fresh);
    secbits_free(small);
    return 0;
  });
  ASSERT_TRUE(result.exited) << "killed by signal " << result.term_signal << ": " << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
  // The parent never saw the child's writes.
  EXPECT_EQ(blocks.front()[0], 0x5A);
  EXPECT_EQ(blocks.back()[kLargeBlock - 1], 0x5A);
  for (unsigned char* block : blocks) secbits_free(block);
}

}  // namespace
