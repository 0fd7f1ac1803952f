// When the kernel refuses to lock (no CAP_IPC_LOCK, RLIMIT_MEMLOCK too small),
// Strict fails with a clear error and Degrade serves unlocked memory that
// still keeps every other guarantee, and says so.
#include <secbits/secbits.hpp>

#include <gtest/gtest.h>

#include <iostream>
#include <string>

#include "support/child.hpp"
#include "support/lock_budget.hpp"
#include "support/smaps.hpp"

namespace {

constexpr std::size_t kBudget = 16 * 1024;

TEST(LockBudget, StrictPolicyReportsTheLimitAndHowToRaiseIt) {
  const auto result = secbits::test::run_in_child([] {
    if (!secbits::test::drop_lock_privilege(kBudget)) return 2;
    try {
      secbits::SecMem memory(64 * 1024);
      return 3;
    } catch (const secbits::Error& error) {
      std::cout << error.what() << std::flush;
      return error.code() == std::errc::not_enough_memory ? 0 : 4;
    }
  });
  ASSERT_TRUE(result.exited) << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output,
            "mlock of 65536 bytes failed: Cannot allocate memory (RLIMIT_MEMLOCK is 16384 bytes; raise it or grant "
            "CAP_IPC_LOCK)");
}

TEST(LockBudget, DegradePolicyServesUnlockedUndumpableMemoryAndWarnsOnce) {
  const auto result = secbits::test::run_in_child([] {
    if (!secbits::test::drop_lock_privilege(kBudget)) return 2;
    secbits::SecMem small(4096, secbits::LockPolicy::Degrade);  // fits the budget
    secbits::SecMem first(64 * 1024, secbits::LockPolicy::Degrade);
    secbits::SecMem second(64 * 1024, secbits::LockPolicy::Degrade);
    if (!small.is_locked() || first.is_locked() || second.is_locked()) return 3;
    const auto mapping = secbits::test::mapping_containing(first.data());
    if (!mapping || mapping->has_flag("lo") || !mapping->has_flag("dd") || !mapping->has_flag("wf")) return 4;
    secbits::SecBytes buffer(64 * 1024, secbits::LockPolicy::Degrade);
    return buffer.is_locked() ? 5 : 0;
  });
  ASSERT_TRUE(result.exited) << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output,
            "secbits: mlock of 65536 bytes failed (Cannot allocate memory; RLIMIT_MEMLOCK is 16384 bytes); "
            "lock policy is degrade: continuing with memory that is not locked (still excluded from core dumps "
            "and wiped); further occurrences are not reported\n");
}

TEST(LockBudget, SecBytesStrictGrowthFailureKeepsContent) {
  const auto result = secbits::test::run_in_child([] {
    if (!secbits::test::drop_lock_privilege(kBudget)) return 2;
    secbits::SecBytes secret;
    std::string first(4096, 'a');
    secret.append(first);
    std::string big(64 * 1024, 'b');
    try {
      secret.append(big);
      return 3;
    } catch (const secbits::Error&) {
    }
    if (big != std::string(64 * 1024, 'b')) return 4;  // the source was not wiped
    auto view = secret.read();
    return view.size() == 4096 && view.data()[4095] == std::byte{'a'} ? 0 : 5;
  });
  ASSERT_TRUE(result.exited) << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

}  // namespace
