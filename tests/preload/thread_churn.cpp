// 2,000 threads created and exiting under the interposer, 50 at a time. At
// exit each one runs a C++ thread_local destructor and a pthread key
// destructor that allocate and free: the key destructor runs after the
// interposer's own thread teardown (its key was created by the first
// allocation of the process, before ours, and glibc runs key destructors in
// creation order), so it allocates on a thread whose heap is already gone.
// Each thread also leaves a block that main frees after the thread exited.
// Checks: every destructor ran and got memory, and the late allocations
// are still in locked, undumpable memory (what exited threads leave locked
// is thread_exit_locked_memory's subject). Exit status 0 if every check held.
#include <pthread.h>

#include <atomic>
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

constexpr int kBatches = 40;
constexpr int kBatchSize = 50;
constexpr int kThreads = kBatches * kBatchSize;

std::atomic<int> g_object_destructors{0};
std::atomic<int> g_key_destructors{0};
std::atomic<int> g_failures{0};
std::atomic<int> g_pool_checks{0};
pthread_key_t g_key;
void* g_leftovers[kThreads];

void failure(const char* what, int thread) {
  if (g_failures.fetch_add(1) < 20) std::fprintf(stderr, "FAILED: %s (thread %d)\n", what, thread);
}

/// Allocates, writes and frees in a destructor that runs at thread exit.
void allocate_and_free(std::size_t size, int thread, const char* where) {
  auto* block = static_cast<unsigned char*>(std::malloc(size));
  if (block == nullptr) return failure(where, thread);
  std::memset(block, 0x6b, size);
  std::string text(size, 't');  // operator new and delete as well
  if (text.back() != 't' || block[size - 1] != 0x6b) failure(where, thread);
  std::free(block);
}

struct ThreadObject {
  int thread = -1;
  ~ThreadObject() {
    allocate_and_free(100 + static_cast<std::size_t>(thread) % 1000, thread, "thread_local destructor");
    g_object_destructors.fetch_add(1);
  }
};
thread_local ThreadObject t_object;

void key_destructor(void* value) {
  const int thread = static_cast<int>(reinterpret_cast<std::intptr_t>(value)) - 1;
  allocate_and_free(200 + static_cast<std::size_t>(thread) % 500, thread, "pthread key destructor");
  // Once per batch: where the allocation of a torn-down thread comes from.
  if (thread % kBatchSize == 0) {
    void* late = std::malloc(64);
    if (!secbits::preload_test::in_secure_memory(late)) {
      failure("a block allocated after the thread's teardown is not in locked, undumpable memory", thread);
    }
    std::free(late);
    g_pool_checks.fetch_add(1);
  }
  g_key_destructors.fetch_add(1);
}

void thread_body(int thread) {
  t_object.thread = thread;  // constructs the thread_local, registering its destructor
  ::pthread_setspecific(g_key, reinterpret_cast<void*>(static_cast<std::intptr_t>(thread) + 1));
  void* scratch = std::malloc(64 + static_cast<std::size_t>(thread) % 4000);
  if (scratch == nullptr) return failure("malloc", thread);
  std::memset(scratch, 1, 64);
  std::free(scratch);
  g_leftovers[thread] = std::malloc(500);
  if (g_leftovers[thread] == nullptr) return failure("malloc of the leftover", thread);
  std::memset(g_leftovers[thread], 2, 500);
}

}  // namespace

int main() {
  ::alarm(120);  // a deadlock fails the test instead of hanging it
  if (!secbits::preload_test::malloc_is_interposed()) return 1;
  if (::pthread_key_create(&g_key, key_destructor) != 0) return 1;
  for (int batch = 0; batch < kBatches; ++batch) {
    std::vector<std::thread> threads;
    for (int i = 0; i < kBatchSize; ++i) threads.emplace_back(thread_body, batch * kBatchSize + i);
    for (std::thread& thread : threads) thread.join();
    // Blocks of threads that no longer exist, freed by another thread.
    for (int i = 0; i < kBatchSize; ++i) {
      auto* leftover = static_cast<unsigned char*>(g_leftovers[batch * kBatchSize + i]);
      if (leftover != nullptr && leftover[499] != 2) failure("leftover block changed", batch * kBatchSize + i);
      std::free(leftover);
    }
  }
  std::printf("%d threads: %d thread_local and %d key destructors ran\n", kThreads, g_object_destructors.load(),
              g_key_destructors.load());
  if (g_object_destructors.load() != kThreads) failure("thread_local destructors missing", -1);
  if (g_key_destructors.load() != kThreads) failure("pthread key destructors missing", -1);
  if (g_pool_checks.load() != kBatches) failure("key destructors checked fewer blocks than batches", -1);
  return g_failures.load() == 0 ? 0 : 1;
}
