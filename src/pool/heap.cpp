#include "pool/heap.hpp"

#include <utility>

#include <mutex>
#include <new>
#include <pthread.h>

#include "pool/source/page_source.hpp"
#include "pool/fork.hpp"
#include "pool/sealing.hpp"
#include "pool/stats.hpp"

namespace secbits::pool {

[[gnu::tls_model("initial-exec")]] constinit thread_local ThreadHeap* tl_heap = nullptr;

namespace {

constexpr std::size_t kHeapsPerChunk = 64;

[[gnu::tls_model("initial-exec")]] constinit thread_local bool tl_torn_down = false;

// Guards the free list, the spare heaps and the thread-exit key.
constinit std::mutex registry_mutex;
constinit std::atomic<ThreadHeap*> all_heaps{nullptr};
constinit ThreadHeap* free_heaps = nullptr;
// The forking thread's heap in a child whose relock waits (set_aside_heap).
[[gnu::tls_model("initial-exec")]] constinit thread_local ThreadHeap* tl_heap_set_aside = nullptr;
constinit ThreadHeap* spare_heaps = nullptr;
constinit std::size_t spare_count = 0;
constinit pthread_key_t exit_key{};
constinit bool exit_key_ready = false;

/// pthread key destructor: the thread is exiting. Its heap keeps its slabs,
/// with any blocks still live, for the next thread that takes it.
void on_thread_exit(void* value) {
  auto* heap = static_cast<ThreadHeap*>(value);
  trim_abandoned_heap(*heap);
  tl_heap = nullptr;
  tl_torn_down = true;
  std::lock_guard lock(registry_mutex);
  heap->next_free = free_heaps;
  free_heaps = heap;
}

ThreadHeap* take_heap_locked() noexcept {
  ThreadHeap* heap = free_heaps;
  if (heap != nullptr) {
    free_heaps = heap->next_free;
    heap->next_free = nullptr;
  } else {
    if (spare_count == 0) {
      void* chunk = nullptr;
      if (!map_bookkeeping(kHeapsPerChunk * sizeof(ThreadHeap), &chunk).ok()) return nullptr;
      g_counters.mapping_estimate.fetch_add(1, std::memory_order_relaxed);  // the pool's too
      seal_for_life(chunk, kHeapsPerChunk * sizeof(ThreadHeap));
      spare_heaps = static_cast<ThreadHeap*>(chunk);
      spare_count = kHeapsPerChunk;
    }
    heap = ::new (spare_heaps++) ThreadHeap;
    --spare_count;
    heap->next_registered = all_heaps.load(std::memory_order_relaxed);
    all_heaps.store(heap, std::memory_order_release);
  }
  return heap;
}

}  // namespace

ThreadHeap* attach_heap() noexcept {
  if (tl_torn_down) return nullptr;
  if (ThreadHeap* forked = take_back_heap()) return forked;
  ThreadHeap* heap = nullptr;
  {
    std::lock_guard lock(registry_mutex);
    if (!exit_key_ready) {
      if (::pthread_key_create(&exit_key, on_thread_exit) != 0) return nullptr;
      exit_key_ready = true;
    }
    heap = take_heap_locked();
  }
  if (heap == nullptr) return nullptr;
  // Set before pthread_setspecific, which may itself call malloc.
  tl_heap = heap;
  (void)::pthread_setspecific(exit_key, heap);
  return heap;
}

ThreadHeap* new_shared_heap() noexcept {
  std::lock_guard lock(registry_mutex);
  ThreadHeap* heap = take_heap_locked();
  if (heap != nullptr) heap->shared = true;
  return heap;
}

ThreadHeap* take_free_heaps() noexcept {
  std::lock_guard lock(registry_mutex);
  ThreadHeap* heaps = free_heaps;
  free_heaps = nullptr;
  return heaps;
}

void give_back_free_heaps(ThreadHeap* heaps) noexcept {
  if (heaps == nullptr) return;
  std::lock_guard lock(registry_mutex);
  ThreadHeap* last = heaps;
  while (last->next_free != nullptr) last = last->next_free;
  last->next_free = free_heaps;
  free_heaps = heaps;
}

ThreadHeap* first_heap() noexcept { return all_heaps.load(std::memory_order_acquire); }

void set_aside_heap() noexcept {
  tl_heap_set_aside = tl_heap;
  tl_heap = nullptr;
}

ThreadHeap* take_back_heap() noexcept {
  ThreadHeap* heap = std::exchange(tl_heap_set_aside, nullptr);
  if (heap != nullptr) tl_heap = heap;
  return heap;
}

void heap_prepare_fork() noexcept { registry_mutex.lock(); }
void heap_parent_after_fork() noexcept { registry_mutex.unlock(); }

void heap_child_after_fork() noexcept {
  ::new (&registry_mutex) std::mutex;
  // Only the forking thread exists in the child. The heaps the other threads
  // were using are not handed to the child's new threads: their fast paths
  // take no lock, so fork may have copied a heap in the middle of an update
  // (a page's live count not yet raised for a block handed out), and a new
  // owner trusting it could close a page under a live block. Their blocks
  // can still be freed (wiped, as any block freed by a non-owner); their
  // slabs are not reused in this child. The free list is whole: it changes
  // only under the registry lock, which the fork held.
}

}  // namespace secbits::pool
