// fork() 200 times while three other threads allocate and free without
// pause and a fourth sets signal handlers (which the interposer keeps behind
// its purge on death, under a lock of its own), under the interposer. A lock
// the pool holds in another thread at the moment of fork (slab cache, large
// spans, heap registry, the signal actions) would be held forever in the
// child, whose first allocation or sigaction would then hang: each child
// sets a handler, as a spawned child resetting its signals does, allocates
// and frees (small, large, C++), checks now and then that its new blocks are
// locked again, and _exit(0)s; the parent waits for each.
// A hang fails the test: each child has an alarm, the parent too, and CTest
// a timeout. Exit status 0 if every child exited with 0.
#include <sys/wait.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "preloaded.hpp"

namespace {

constexpr int kForks = 200;
constexpr int kAllocatingThreads = 3;

std::atomic<bool> g_stop{false};
std::atomic<long> g_thread_operations{0};

void allocate_without_pause(unsigned seed) {
  std::uint64_t state = seed * 0x9e3779b97f4a7c15ull + 1;
  std::vector<void*> kept(64, nullptr);
  long operations = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    // Mostly small blocks; every 16th a large one (its own page run, the
    // large zone's lock and the slab cache's lock are both taken).
    const std::size_t size = state % 16 == 0 ? 20000 + state % 300000 : 1 + state % 2000;
    void*& slot = kept[(state >> 20) % kept.size()];
    std::free(slot);
    slot = std::malloc(size);
    if (slot != nullptr) std::memset(slot, 0x3c, std::min<std::size_t>(size, 256));
    ++operations;
  }
  for (void* block : kept) std::free(block);
  g_thread_operations.fetch_add(operations);
}

void on_fault(int) {}

void set_handlers_without_pause() {
  struct sigaction handled = {};
  handled.sa_handler = on_fault;
  struct sigaction fallback = {};
  fallback.sa_handler = SIG_DFL;
  while (!g_stop.load(std::memory_order_relaxed)) {
    ::sigaction(SIGSEGV, &handled, nullptr);
    ::sigaction(SIGSEGV, &fallback, nullptr);
  }
}

/// The child's work: any lock left held by the fork hangs it here.
int child(int round) {
  ::alarm(20);  // alarms are not inherited: the child needs its own
  struct sigaction fallback = {};
  fallback.sa_handler = SIG_DFL;
  if (::sigaction(SIGSEGV, &fallback, nullptr) != 0) return 5;
  std::vector<void*> blocks;
  for (std::size_t size : {16, 100, 1000, 5000, 16384, 40000, 300000}) {
    auto* block = static_cast<unsigned char*>(std::malloc(size));
    if (block == nullptr) return 2;
    std::memset(block, 0x7e, size);
    blocks.push_back(block);
  }
  std::string text(1000, 'c');
  std::vector<int> numbers(10000, round);
  if (round % 40 == 0) {
    // The kernel does not hand memory locks to a child: the pool must lock
    // again what the child uses.
    for (void* block : blocks) {
      if (!secbits::preload_test::in_secure_memory(block)) return 4;
    }
  }
  for (void* block : blocks) std::free(block);
  return numbers[9999] == round && text[999] == 'c' ? 0 : 3;
}

}  // namespace

int main() {
  ::alarm(120);  // a deadlock fails the test instead of hanging it
  if (!secbits::preload_test::malloc_is_interposed()) return 1;
  std::vector<std::thread> threads;
  for (int i = 0; i < kAllocatingThreads; ++i) threads.emplace_back(allocate_without_pause, static_cast<unsigned>(i));
  threads.emplace_back(set_handlers_without_pause);
  int failures = 0;
  for (int round = 0; round < kForks; ++round) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("fork");
      ++failures;
      break;
    }
    if (pid == 0) ::_exit(child(round));
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) continue;
    ++failures;
    if (WIFSIGNALED(status)) {
      std::fprintf(stderr, "FAILED: child %d killed by %s%s\n", round, strsignal(WTERMSIG(status)),
                   WTERMSIG(status) == SIGALRM ? " (it hung: a lock held across fork?)" : "");
    } else {
      std::fprintf(stderr, "FAILED: child %d exited with %d (2: no memory, 3: bad content, 4: not locked, 5: sigaction failed)\n", round,
                   WEXITSTATUS(status));
    }
  }
  g_stop = true;
  for (std::thread& thread : threads) thread.join();
  std::printf("%d forks while %d threads made %ld allocations; %d failed children\n", kForks, kAllocatingThreads,
              g_thread_operations.load(), failures);
  return failures == 0 ? 0 : 1;
}
