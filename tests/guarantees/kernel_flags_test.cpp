// What the kernel itself says about a secret's pages: /proc/self/smaps flags
// and lock accounting, and what a forked child sees.
#include <secbits/secbits.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "support/child.hpp"
#include "support/smaps.hpp"

namespace {

TEST(KernelFlags, SecretRegionIsLockedUndumpableAndWipedOnFork) {
  secbits::SecMem memory(5 * 4096);
  const auto mapping = secbits::test::mapping_containing(memory.data());
  ASSERT_TRUE(mapping.has_value());
  EXPECT_EQ(mapping->start, reinterpret_cast<std::uintptr_t>(memory.data()));
  EXPECT_EQ(mapping->end - mapping->start, memory.capacity());
  EXPECT_EQ(mapping->permissions, "---p");
  EXPECT_TRUE(mapping->has_flag("lo"));
  EXPECT_TRUE(mapping->has_flag("dd"));
  EXPECT_TRUE(mapping->has_flag("wf"));
  EXPECT_EQ(mapping->rss_kb, memory.capacity() / 1024);
  EXPECT_EQ(mapping->locked_kb, mapping->rss_kb);
}

TEST(KernelFlags, SecBytesRegionKeepsFlagsAfterGrowth) {
  secbits::SecBytes secret;
  std::string chunk(10000, 's');
  secret.append(chunk);
  chunk.assign(50000, 't');
  secret.append(chunk);
  const std::byte* data = secret.read().data();
  const auto mapping = secbits::test::mapping_containing(data);
  ASSERT_TRUE(mapping.has_value());
  EXPECT_TRUE(mapping->has_flag("lo"));
  EXPECT_TRUE(mapping->has_flag("dd"));
  EXPECT_TRUE(mapping->has_flag("wf"));
  EXPECT_EQ(mapping->locked_kb, mapping->rss_kb);
  EXPECT_EQ(mapping->rss_kb, secret.capacity() / 1024);
}

TEST(KernelFlags, ForkedChildReadsZerosWhereParentHoldsSecret) {
  std::string text(8192, 'K');
  secbits::SecBytes secret;
  secret.append(text);
  const auto result = secbits::test::run_in_child([&] {
    auto view = secret.read();
    const bool zeros = std::all_of(view.data(), view.data() + view.size(), [](std::byte b) { return b == std::byte{0}; });
    return zeros ? 0 : 1;
  });
  ASSERT_TRUE(result.exited) << result.output;
  EXPECT_EQ(result.exit_code, 0) << "the child saw the parent's secret";
  auto view = secret.read();
  EXPECT_EQ(view.as_span()[8191], std::byte{'K'});  // the parent still has it
}

}  // namespace
