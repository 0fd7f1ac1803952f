#include "pool/fork.hpp"

#include <atomic>
#include <pthread.h>
#include <utility>

#include "pool/heap.hpp"
#include "pool/region.hpp"

namespace secbits::pool {

constinit std::atomic<bool> g_forked_child_unlocked{false};
[[gnu::tls_model("initial-exec")]] constinit thread_local ThreadHeap* tl_heap_before_fork = nullptr;

namespace {

constinit std::atomic<bool> installed{false};

// The order matches the order in which the pool's paths nest these locks.
void prepare() {
  pool_prepare_fork();
  heap_prepare_fork();
  region_prepare_fork();
  large_prepare_fork();
}

void parent() {
  large_parent_after_fork();
  region_parent_after_fork();
  heap_parent_after_fork();
  pool_parent_after_fork();
}

void child() {
  large_child_after_fork();
  region_child_after_fork();
  heap_child_after_fork();
  pool_child_after_fork();
  // Locking the child's pool now would walk every resident page of it, and
  // its exit or exec would walk them again to unlock: a child that only
  // execs would pay for a pool it never touches. Its first call into the
  // pool locks instead.
  tl_heap_before_fork = std::exchange(tl_heap, nullptr);
  g_forked_child_unlocked.store(true, std::memory_order_release);
}

}  // namespace

void lock_forked_child() noexcept {
  if (ThreadHeap* heap = std::exchange(tl_heap_before_fork, nullptr)) tl_heap = heap;
  if (g_forked_child_unlocked.exchange(false, std::memory_order_acq_rel)) relock_after_fork();
}

void install_fork_handlers() noexcept {
  if (installed.load(std::memory_order_acquire) || installed.exchange(true, std::memory_order_acq_rel)) return;
  (void)::pthread_atfork(prepare, parent, child);
}

}  // namespace secbits::pool
