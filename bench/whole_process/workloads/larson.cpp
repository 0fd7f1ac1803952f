// larson: a server whose threads come and go (after Larson and Krishnan,
// "Memory allocation for long-running server applications", ISMM 1998, and
// the `larson` of the mimalloc and hoard benchmark suites).
//
// Each of kThreads threads holds kSlots live blocks of 8..1000 bytes and
// replaces random ones (free the old block, allocate a new one of a random
// size). After kOpsPerLife replacements the thread exits and hands its blocks
// to a new thread, which frees them as it replaces them: most frees are of
// blocks that another, often already exited, thread allocated.
//
// Deterministic: each block array is worked on by one thread at a time, with
// a random sequence fixed by (array, generation).
#include <thread>
#include <vector>

#include "common.hpp"

namespace {

constexpr int kThreads = 4;
constexpr std::size_t kSlots = 5000;
constexpr std::size_t kMinSize = 8;
constexpr std::size_t kMaxSize = 1000;
constexpr std::size_t kOpsPerLife = 200000;

struct Slots {
  std::vector<void*> blocks = std::vector<void*>(kSlots, nullptr);
  std::vector<std::uint32_t> sizes = std::vector<std::uint32_t>(kSlots, 0);
  std::vector<std::uint64_t> tags = std::vector<std::uint64_t>(kSlots, 0);
  std::uint64_t checksum = 0;
};

void fill(Slots& s, std::uint64_t seed) {
  wp::Rng rng(seed);
  for (std::size_t i = 0; i < kSlots; ++i) {
    const std::size_t size = rng.range(kMinSize, kMaxSize);
    s.blocks[i] = wp::checked(std::malloc(size));
    s.sizes[i] = static_cast<std::uint32_t>(size);
    s.tags[i] = rng.next();
    wp::stamp(s.blocks[i], size, s.tags[i]);
  }
}

void life(Slots& s, std::uint64_t seed) {
  wp::Rng rng(seed);
  std::uint64_t sum = 0;
  for (std::size_t op = 0; op < kOpsPerLife; ++op) {
    const std::size_t i = rng.next() % kSlots;
    sum += wp::unstamp(s.blocks[i], s.sizes[i], s.tags[i]);
    std::free(s.blocks[i]);
    const std::size_t size = rng.range(kMinSize, kMaxSize);
    s.blocks[i] = wp::checked(std::malloc(size));
    s.sizes[i] = static_cast<std::uint32_t>(size);
    s.tags[i] = rng.next();
    wp::stamp(s.blocks[i], size, s.tags[i]);
  }
  s.checksum += sum;
}

}  // namespace

int main(int argc, char** argv) {
  const int generations = static_cast<int>(120 * wp::scale(argc, argv));
  std::vector<Slots> arrays(kThreads);
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) threads.emplace_back(fill, std::ref(arrays[t]), 1000 + t);
    for (auto& thread : threads) thread.join();
  }
  // Each generation's threads free what the previous generation's allocated:
  // array t goes to thread (t + 1) % kThreads's successor, so a thread never
  // takes back the blocks it made itself.
  for (int g = 0; g < generations; ++g) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      Slots& s = arrays[(t + g) % kThreads];
      threads.emplace_back(life, std::ref(s), (std::uint64_t{static_cast<unsigned>(g)} << 32) | static_cast<unsigned>(t));
    }
    for (auto& thread : threads) thread.join();
  }
  std::uint64_t checksum = 0;
  for (Slots& s : arrays) {
    for (std::size_t i = 0; i < kSlots; ++i) {
      checksum += wp::unstamp(s.blocks[i], s.sizes[i], s.tags[i]);
      std::free(s.blocks[i]);
    }
    checksum = wp::mix(checksum ^ s.checksum);
  }
  wp::print_checksum("larson", checksum);
}
