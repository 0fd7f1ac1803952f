// secbits is built for 4 KiB pages. On a kernel with other pages (arm64 with
// 16 or 64 KiB) every secure allocation fails: the process must be told why
// once, not left with ENOMEM and no reason.
#include <secbits/secbits.h>
#include <secbits/secure_new.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <new>
#include <string>

#include "injection/fresh_pool.hpp"
#include "os/injection.hpp"

namespace {

using secbits::test::broken;

TEST(PageSize, AnotherPageSizeIsRefusedOnceWithAClearMessage) {
  const auto result = secbits::test::run_with_fresh_pool([] {
    secbits::os::testing::fake_page_size(16384);
    for (int attempt = 0; attempt < 3; ++attempt) {
      errno = 0;
      if (secbits_malloc(32) != nullptr) return broken("secbits_malloc served with 16 KiB pages");
      if (errno != ENOMEM) return broken("errno is not ENOMEM");
    }
    try {
      (void)secbits::secure_new<int>(1);
      return broken("secure_new served with 16 KiB pages");
    } catch (const std::bad_alloc&) {
    }
    return 0;
  });
  ASSERT_TRUE(result.exited) << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output,
            "secbits: the page size is 16384 bytes; secbits supports 4096-byte pages only: every secure allocation "
            "fails with ENOMEM\n");
}

}  // namespace
