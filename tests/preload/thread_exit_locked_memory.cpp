// Locked memory is what RLIMIT_MEMLOCK rations (8 MiB for a user on Debian),
// so what exited threads leave locked is taken from the living ones. Four
// rounds of 50 threads, alive at the same time, each allocate and free one
// block in each of 24 small size classes and exit; after each round nothing
// the threads allocated is live. The process's locked memory (VmLck, the
// kernel's count) must then come back near where it was before the threads:
// within 4 MiB, room for the pool's cache of 16 empty slabs (2 MiB) and for
// the heap of torn-down threads. Exit status 0 if it does.
#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "preloaded.hpp"

namespace {

constexpr int kRounds = 4;
constexpr int kThreads = 50;
constexpr std::size_t kSlackKb = 4 * 1024;

std::size_t locked_kb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmLck:", 0) == 0) return std::stoul(line.substr(6));
  }
  return 0;
}

/// One block in each of 24 size classes, from 16 bytes to 16 KiB.
void touch_size_classes() {
  for (std::size_t size = 16; size <= 16384; size = size * 5 / 4 + 16) {
    void* block = std::malloc(size);
    if (block == nullptr) std::abort();
    std::memset(block, 0x5c, size);
    std::free(block);
  }
}

}  // namespace

int main() {
  ::alarm(60);
  if (!secbits::preload_test::malloc_is_interposed()) return 1;
  touch_size_classes();  // the main thread's own slabs belong to the baseline
  const std::size_t baseline = locked_kb();
  std::printf("before the threads: VmLck %zu kB\n", baseline);
  int failures = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::barrier all_alive(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&all_alive] {
        touch_size_classes();
        all_alive.arrive_and_wait();  // 50 heaps in use at once
      });
    }
    for (std::thread& thread : threads) thread.join();
    const std::size_t after = locked_kb();
    std::printf("round %d: %d threads exited, none of their blocks live: VmLck %zu kB\n", round, kThreads, after);
    if (after > baseline + kSlackKb) {
      std::fprintf(stderr, "FAILED: round %d: %zu kB locked after the threads exited, %zu kB before\n", round, after,
                   baseline);
      ++failures;
    }
  }
  return failures == 0 ? 0 : 1;
}
