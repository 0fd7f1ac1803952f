// read() on one const SecBytes& from several threads: a reader must never see
// the pages go back to NoAccess while its view lives, nor a wrong byte.
#include <secbits/secbits.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace {

TEST(ConcurrentReaders, FourThreadsOfReadViewsNeverFaultOrMisread) {
  constexpr int kThreads = 4;
  constexpr int kViewsPerThread = 75'000;
  std::string text(3 * 4096 + 17, '\0');
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>(i * 7 + 3);
  const std::string expected = text;
  secbits::SecBytes secret;
  secret.append(text);
  const secbits::SecBytes& shared = secret;

  std::atomic<long> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kViewsPerThread; ++i) {
        auto view = shared.read();
        const std::size_t at = static_cast<std::size_t>(i * 4099 + t) % view.size();
        // Read first, last and one moving byte: each lies on a different page.
        if (view.data()[at] != static_cast<std::byte>(expected[at]) ||
            view.data()[0] != static_cast<std::byte>(expected[0]) ||
            view.data()[view.size() - 1] != static_cast<std::byte>(expected.back())) {
          wrong.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  auto view = shared.read();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(view.data()), view.size()), expected);
}

}  // namespace
