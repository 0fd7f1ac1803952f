#include <secbits/secbits.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "os/secret.hpp"

namespace {

std::string as_string(const secbits::SecReadView& view) {
  return {reinterpret_cast<const char*>(view.data()), view.size()};
}

bool all_zero(const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  return std::all_of(bytes, bytes + size, [](unsigned char b) { return b == 0; });
}

// The seed's quick start: append wipes the source, read sees it, write edits it.
TEST(SecBytesQuickStart, AppendWipesSourceReadSeesWriteEdits) {
  std::string password = "correct horse battery staple";
  const char* source_bytes = password.data();
  const std::size_t source_capacity = password.capacity();

  secbits::SecBytes secret;
  secret.append(password);

  EXPECT_TRUE(password.empty());
  EXPECT_TRUE(all_zero(source_bytes, source_capacity));
  EXPECT_EQ(secret.size(), 28u);
  EXPECT_EQ(as_string(secret.read()), "correct horse battery staple");

  {
    auto view = secret.write();
    view.as_span()[0] = std::byte{'C'};
  }
  EXPECT_EQ(as_string(secret.read()), "Correct horse battery staple");
}

TEST(SecBytes, AppendOfSpanAndVectorWipeTheirSources) {
  std::vector<unsigned char> key(100, 0xAB);
  const unsigned char* key_bytes = key.data();
  const std::size_t key_capacity = key.capacity();
  std::byte raw[7] = {std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4},
                      std::byte{5}, std::byte{6}, std::byte{7}};

  secbits::SecBytes secret;
  secret.append(key);
  secret.append(std::span<std::byte>(raw));

  EXPECT_TRUE(key.empty());
  EXPECT_TRUE(all_zero(key_bytes, key_capacity));
  EXPECT_TRUE(all_zero(raw, sizeof raw));
  auto view = secret.read();
  ASSERT_EQ(view.size(), 107u);
  EXPECT_TRUE(std::all_of(view.data(), view.data() + 100, [](std::byte b) { return b == std::byte{0xAB}; }));
  EXPECT_EQ(view.as_span()[106], std::byte{7});
}

// An empty span or a vector that never had storage has no data pointer; the
// wipe of the source must not pass it to memset (UBSan: found by fuzzing).
TEST(SecBytes, AppendOfAnEmptySourceWithoutStorageChangesNothing) {
  secbits::SecBytes bytes;
  std::string text = "key";
  bytes.append(text);
  bytes.append(std::span<std::byte>{});
  std::vector<unsigned char> none;
  bytes.append(none);
  EXPECT_EQ(bytes.size(), 3u);
  EXPECT_TRUE(none.empty());
  const auto view = bytes.read();
  EXPECT_EQ(std::memcmp(view.data(), "key", 3), 0);
}

TEST(SecBytes, EmptyBufferHasNoPagesAndEmptyViews) {
  secbits::SecBytes empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.capacity(), 0u);
  EXPECT_TRUE(empty.is_locked());
  EXPECT_EQ(empty.read().size(), 0u);
  EXPECT_EQ(empty.write().size(), 0u);
}

TEST(SecBytes, CapacityConstructorReservesWholePages) {
  secbits::SecBytes reserved(5000);
  EXPECT_EQ(reserved.capacity() % 4096, 0u);
  EXPECT_GE(reserved.capacity(), 5000u);
  EXPECT_TRUE(reserved.empty());
}

TEST(SecBytes, GrowthFromZeroToOneMebibyteKeepsEveryByte) {
  secbits::SecBytes secret;
  std::vector<unsigned char> expected;
  std::size_t chunk = 1;
  std::size_t previous_capacity = 0;
  while (expected.size() < (1u << 20)) {
    std::vector<unsigned char> piece(chunk);
    for (std::size_t i = 0; i < chunk; ++i) piece[i] = static_cast<unsigned char>((expected.size() + i) * 131 + 7);
    expected.insert(expected.end(), piece.begin(), piece.end());
    secret.append(piece);
    if (secret.capacity() != previous_capacity) {
      // Geometric: every new capacity at least doubles the previous one.
      EXPECT_GE(secret.capacity(), 2 * previous_capacity);
      previous_capacity = secret.capacity();
    }
    chunk = chunk * 3 % 4099 + 1;  // uneven sizes, some across page boundaries
  }
  auto view = secret.read();
  ASSERT_EQ(view.size(), expected.size());
  EXPECT_EQ(std::memcmp(view.data(), expected.data(), expected.size()), 0);
}

TEST(SecBytes, ClearWipesContentAndKeepsCapacity) {
  std::string text(3000, 'x');
  secbits::SecBytes secret;
  secret.append(text);
  const std::size_t capacity = secret.capacity();
  secret.clear();
  EXPECT_TRUE(secret.empty());
  EXPECT_EQ(secret.capacity(), capacity);
  auto view = secret.read();
  // The view is empty, but the pages are readable while it lives: the
  // 3000 bytes that were there must be zero.
  EXPECT_TRUE(all_zero(view.data(), 3000));
}

TEST(SecBytes, ViewsAreBorrowCheckedAtRunTime) {
  std::string text = "secret";
  secbits::SecBytes secret;
  secret.append(text);
  {
    auto reader = secret.read();
    auto second_reader = secret.read();
    std::string more = "more";
    EXPECT_THROW(secret.write(), secbits::Error);
    EXPECT_THROW(secret.append(more), secbits::Error);
    EXPECT_EQ(more, "more");  // nothing lost when the append is refused
    EXPECT_THROW(secret.clear(), secbits::Error);
    EXPECT_EQ(as_string(second_reader), "secret");
  }
  {
    auto writer = secret.write();
    EXPECT_THROW(secret.read(), secbits::Error);
    EXPECT_THROW(secret.write(), secbits::Error);
  }
  EXPECT_EQ(as_string(secret.read()), "secret");
  try {
    auto writer = secret.write();
    (void)secret.read();
    FAIL() << "read during a write view did not throw";
  } catch (const secbits::Error& error) {
    EXPECT_EQ(error.code(), std::errc::device_or_resource_busy);
    EXPECT_NE(std::string(error.what()).find("SecBytes::read while a view of the buffer is open"), std::string::npos)
        << error.what();
  }
}

TEST(SecBytes, MovedBufferKeepsContentAndLeavesSourceEmpty) {
  std::string text = "moving secret";
  secbits::SecBytes first;
  first.append(text);
  secbits::SecBytes second = std::move(first);
  EXPECT_EQ(first.size(), 0u);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(first.capacity(), 0u);
  EXPECT_EQ(as_string(second.read()), "moving secret");
  secbits::SecBytes third;
  third = std::move(second);
  EXPECT_EQ(as_string(third.read()), "moving secret");
}

TEST(SecBytesBadInput, AppendThatWouldOverflowSizeIsRefusedAndLosesNothing) {
  std::string text = "kept";
  secbits::SecBytes secret;
  secret.append(text);
  std::byte other[4] = {std::byte{9}, std::byte{9}, std::byte{9}, std::byte{9}};
  // A span whose length added to size() wraps around: the check must come
  // before anything is copied, so the span's data is never dereferenced.
  std::span<std::byte> huge(other, SIZE_MAX - 1);
  try {
    secret.append(huge);
    FAIL() << "append did not throw";
  } catch (const secbits::Error& error) {
    EXPECT_EQ(error.code(), std::errc::value_too_large);
    EXPECT_NE(std::string(error.what()).find("overflows size_t"), std::string::npos) << error.what();
  }
  EXPECT_EQ(other[0], std::byte{9});
  EXPECT_EQ(as_string(secret.read()), "kept");
}

TEST(SecBytesBadInput, AppendTooLargeToMapIsRefusedAndLosesNothing) {
  std::string text = "kept";
  secbits::SecBytes secret;
  secret.append(text);
  std::byte other[4] = {std::byte{9}, std::byte{9}, std::byte{9}, std::byte{9}};
  std::span<std::byte> huge(other, SIZE_MAX / 4);  // no machine maps 4 EiB
  EXPECT_THROW(secret.append(huge), secbits::Error);
  EXPECT_EQ(other[0], std::byte{9});
  EXPECT_EQ(as_string(secret.read()), "kept");
}

TEST(SecBytesSource, AnAnonymousBufferIsNotSecret) {
  secbits::SecBytes buffer(100, secbits::LockPolicy::Strict, secbits::PageSource::Anonymous);
  std::string text = "anonymous";
  buffer.append(text);
  EXPECT_FALSE(buffer.is_secret());
  EXPECT_TRUE(buffer.is_locked());
}

class SecBytesSecret : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const auto status = secbits::os::probe_secret_memory(); !status.ok()) {
      GTEST_SKIP() << "no secret memory on this kernel: memfd_secret: " << std::strerror(status.error);
    }
  }
};

TEST_F(SecBytesSecret, AnEmptyBufferRemembersItsSourceForItsFirstRegion) {
  secbits::SecBytes buffer(0, secbits::LockPolicy::Strict, secbits::PageSource::Secret);
  EXPECT_FALSE(buffer.is_secret());
  EXPECT_EQ(buffer.capacity(), 0u);
  std::string text = "now secret";
  buffer.append(text);
  EXPECT_TRUE(buffer.is_secret());
  EXPECT_TRUE(buffer.is_locked());
  EXPECT_EQ(as_string(buffer.read()), "now secret");
}

TEST_F(SecBytesSecret, AMovedBufferKeepsItsSourceThroughGrowth) {
  secbits::SecBytes first(1, secbits::LockPolicy::Strict, secbits::PageSource::Secret);
  ASSERT_TRUE(first.is_secret());
  secbits::SecBytes second(std::move(first));
  secbits::SecBytes third;
  third = std::move(second);
  const std::size_t size = 3 * third.capacity();
  std::string big(size, 'g');
  third.append(big);
  EXPECT_GE(third.capacity(), size);
  EXPECT_TRUE(third.is_secret());
  EXPECT_EQ(as_string(third.read()), std::string(size, 'g'));
}

}  // namespace
