#include "pool/fork.hpp"

#include <atomic>
#include <pthread.h>

#include "pool/death_purge.hpp"
#include "pool/heap.hpp"
#include "pool/region.hpp"
#include "pool/source/page_source.hpp"

namespace secbits::pool {

namespace {

constinit std::atomic<bool> installed{false};

// The order matches the order in which the pool's paths nest these locks.
void prepare() {
  pool_prepare_fork();
  heap_prepare_fork();
  zero_size_prepare_fork();
  region_prepare_fork();
  large_prepare_fork();
}

void parent() {
  large_parent_after_fork();
  region_parent_after_fork();
  zero_size_parent_after_fork();
  heap_parent_after_fork();
  pool_parent_after_fork();
}

void child() {
  death_purge_child_after_fork();
  large_child_after_fork();
  region_child_after_fork();
  zero_size_child_after_fork();
  heap_child_after_fork();
  pool_child_after_fork();
  if (page_source().child_only_relocks()) {
    set_aside_heap();
    g_relock_waits.store(true, std::memory_order_release);
  } else {
    renew_pool_in_child();
  }
}

}  // namespace

constinit std::atomic<bool> g_relock_waits{false};

void relock_after_fork() noexcept {
  // Threads the child started since may race here: one relocks. Another that
  // writes pool pages meanwhile gets copies locked by that relock, or, once
  // their range is relocked, on the fault.
  if (g_relock_waits.exchange(false, std::memory_order_acq_rel)) relock_pool("in a forked child, which fork() cannot fail for");
  (void)take_back_heap();
}

void install_fork_handlers() noexcept {
  if (installed.load(std::memory_order_acquire) || installed.exchange(true, std::memory_order_acq_rel)) return;
  (void)::pthread_atfork(prepare, parent, child);
}

}  // namespace secbits::pool
