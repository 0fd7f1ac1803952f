// At rest a secret's pages cannot be touched: each case runs the touch in a
// forked child and expects the kernel to kill it with SIGSEGV.
#include <secbits/secbits.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <string>

#include "support/child.hpp"

namespace {

using secbits::test::run_in_child;

secbits::SecBytes make_secret() {
  std::string text = "top secret value";
  secbits::SecBytes secret;
  secret.append(text);
  return secret;
}

// A volatile read the compiler must perform.
int touch(const std::byte* address) { return static_cast<int>(*static_cast<const volatile std::byte*>(address)); }

void expect_killed_by_segv(const secbits::test::ChildResult& result) {
  EXPECT_FALSE(result.exited) << "child exited with " << result.exit_code << ": " << result.output;
  EXPECT_EQ(result.term_signal, SIGSEGV) << result.output;
}

TEST(ProtectionAtRest, ReadThroughSavedPointerAfterViewEndsFaults) {
  const auto secret = make_secret();
  const std::byte* saved = nullptr;
  {
    auto view = secret.read();
    saved = view.data();
    ASSERT_EQ(touch(saved), 't');  // readable while the view lives
  }
  expect_killed_by_segv(run_in_child([&] { return touch(saved); }));
}

TEST(ProtectionAtRest, WriteDuringReadViewFaults) {
  const auto secret = make_secret();
  auto view = secret.read();
  auto* writable = const_cast<std::byte*>(view.data());
  expect_killed_by_segv(run_in_child([&] {
    *static_cast<volatile std::byte*>(writable) = std::byte{0};
    return 0;
  }));
}

TEST(ProtectionAtRest, ReadAfterWriteViewEndsFaults) {
  auto secret = make_secret();
  std::byte* saved = nullptr;
  {
    auto view = secret.write();
    saved = view.data();
  }
  expect_killed_by_segv(run_in_child([&] { return touch(saved); }));
}

TEST(ProtectionAtRest, GuardPagesBeforeAndAfterFault) {
  secbits::SecMem memory(3 * 4096);
  memory.protect(secbits::Protection::ReadWrite);
  const std::byte* first = memory.data();
  const std::byte* last = memory.data() + memory.capacity() - 1;
  ASSERT_EQ(touch(first), 0);
  ASSERT_EQ(touch(last), 0);
  expect_killed_by_segv(run_in_child([&] { return touch(first - 1); }));
  expect_killed_by_segv(run_in_child([&] { return touch(last + 1); }));
}

}  // namespace
