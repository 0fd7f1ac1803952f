// Eight threads, for a few seconds, doing random malloc, calloc, realloc and
// free of random sizes (16 B to 1 MiB) under the interposer, and handing
// blocks to each other through a shared exchange: a block may be freed or
// reallocated by a thread other than the one that allocated it. Every block
// carries a pattern derived from its own seed, checked before every realloc
// and free: a block handed out twice, or overwritten by the pool's
// bookkeeping or by another thread's wipe, shows up as a mismatch.
// Exit status 0 if every check held.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "preloaded.hpp"

namespace {

constexpr int kThreads = 8;
constexpr auto kDuration = std::chrono::seconds(3);
constexpr int kSlots = 128;
constexpr int kExchangeSlots = 64;

struct Block {
  unsigned char* data = nullptr;
  std::size_t size = 0;
  std::uint32_t seed = 0;
};

std::atomic<Block*> g_exchange[kExchangeSlots];
std::atomic<bool> g_stop{false};
std::atomic<long> g_failures{0};
std::atomic<long> g_operations{0};
std::atomic<long> g_cross_thread{0};

void failure(const char* what, const Block& block) {
  if (g_failures.fetch_add(1) < 20) {
    std::fprintf(stderr, "FAILED: %s: block %p of %zu bytes (seed %u)\n", what, static_cast<void*>(block.data),
                 block.size, block.seed);
  }
}

std::uint64_t next(std::uint64_t& state) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

std::size_t random_size(std::uint64_t& state) {
  const std::uint64_t r = next(state);
  switch (r % 100 / 25) {
    case 0:
    case 1: return 1 + (r >> 8) % 256;               // half of them small
    case 2: return 257 + (r >> 8) % 16128;          // the rest of the small classes
    default: return (r >> 8) % 8 == 0 ? 16385 + (r >> 12) % (1 << 20) : 1 + (r >> 12) % 4096;  // some large
  }
}

unsigned char pattern(std::uint32_t seed, std::size_t i) {
  return static_cast<unsigned char>((seed * 2654435761u + i * 40503u) >> 13);
}

void fill(Block& block) {
  for (std::size_t i = 0; i < block.size; ++i) block.data[i] = pattern(block.seed, i);
}

bool intact(const Block& block, std::size_t length) {
  for (std::size_t i = 0; i < length; ++i) {
    if (block.data[i] != pattern(block.seed, i)) return false;
  }
  return true;
}

void release(Block& block) {
  if (block.data == nullptr) return;
  if (!intact(block, block.size)) failure("content changed before free", block);
  std::free(block.data);
  block = Block{};
}

void allocate(Block& block, std::uint64_t& state, bool zeroed) {
  block.size = random_size(state);
  block.seed = static_cast<std::uint32_t>(next(state));
  block.data = static_cast<unsigned char*>(zeroed ? std::calloc(1, block.size) : std::malloc(block.size));
  if (block.data == nullptr) {
    failure(zeroed ? "calloc returned NULL" : "malloc returned NULL", block);
    block = Block{};
    return;
  }
  if (malloc_usable_size(block.data) < block.size) failure("malloc_usable_size below the request", block);
  if (zeroed) {
    for (std::size_t i = 0; i < block.size; ++i) {
      if (block.data[i] != 0) {
        failure("calloc block not zeroed", block);
        break;
      }
    }
  }
  fill(block);
}

void reallocate(Block& block, std::uint64_t& state) {
  if (block.data == nullptr) return allocate(block, state, false);
  if (!intact(block, block.size)) failure("content changed before realloc", block);
  const std::size_t size = random_size(state);
  auto* moved = static_cast<unsigned char*>(std::realloc(block.data, size));
  if (moved == nullptr) {
    failure("realloc returned NULL", block);
    return;
  }
  Block grown{moved, std::min(size, block.size), block.seed};
  if (!intact(grown, grown.size)) failure("realloc lost content", grown);
  block = {moved, size, static_cast<std::uint32_t>(next(state))};
  fill(block);
}

void worker(int id) {
  std::uint64_t state = 0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(id + 1);
  std::vector<Block> slots(kSlots);
  long operations = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    const std::uint64_t r = next(state);
    Block& block = slots[r % kSlots];
    switch ((r >> 16) % 10) {
      case 0:
      case 1:
        release(block);
        allocate(block, state, false);
        break;
      case 2:
        release(block);
        allocate(block, state, true);
        break;
      case 3:
      case 4:
        reallocate(block, state);
        break;
      case 5:
      case 6:
        release(block);
        break;
      case 7:
      case 8: {  // hand the block to whichever thread takes it next
        if (block.data == nullptr) break;
        Block* given = new Block(block);
        block = Block{};
        if (Block* previous = g_exchange[(r >> 24) % kExchangeSlots].exchange(given)) {
          release(*previous);  // a block of another thread (most likely), freed here
          delete previous;
          g_cross_thread.fetch_add(1, std::memory_order_relaxed);
        }
        break;
      }
      case 9: {  // take a block from the exchange and keep using it
        Block* taken = g_exchange[(r >> 24) % kExchangeSlots].exchange(nullptr);
        if (taken == nullptr) break;
        release(block);
        block = *taken;
        delete taken;
        g_cross_thread.fetch_add(1, std::memory_order_relaxed);
        break;
      }
    }
    ++operations;
  }
  for (Block& block : slots) release(block);
  g_operations.fetch_add(operations);
}

}  // namespace

int main() {
  ::alarm(60);  // a deadlock fails the test instead of hanging it
  if (!secbits::preload_test::malloc_is_interposed()) return 1;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(worker, i);
  std::this_thread::sleep_for(kDuration);
  g_stop = true;
  for (std::thread& thread : threads) thread.join();
  for (std::atomic<Block*>& slot : g_exchange) {
    if (Block* left = slot.exchange(nullptr)) {
      release(*left);
      delete left;
    }
  }
  // The blocks of this run came from the pool, as far as the kernel can tell.
  void* probe = std::malloc(1000);
  if (!secbits::preload_test::in_secure_memory(probe)) {
    std::fprintf(stderr, "FAILED: a block after the run is not in locked, undumpable memory\n");
    g_failures.fetch_add(1);
  }
  std::free(probe);
  std::printf("%ld operations by %d threads, %ld blocks passed between threads, %ld failures\n", g_operations.load(),
              kThreads, g_cross_thread.load(), g_failures.load());
  if (g_operations.load() < 10000 || g_cross_thread.load() < 100) {
    std::fprintf(stderr, "FAILED: too little work to mean anything\n");
    return 1;
  }
  return g_failures.load() == 0 ? 0 : 1;
}
