#pragma once

#include <atomic>

// fork() from a multi-threaded process: every lock of the pool is taken
// before the fork so that the child finds none of them held by a thread that
// does not exist there; the child then gives back the other threads' heaps.
// Memory locks are not inherited: the child's first call into the pool
// locks its pages again, as each is touched (MLOCK_ONFAULT), so that the
// pages it only reads stay shared with the parent, and locked by it.
namespace secbits::pool {

struct ThreadHeap;

/// True in a forked child until its first call into the pool.
extern constinit std::atomic<bool> g_forked_child_unlocked;
/// The forking thread's heap, set aside in the child until that thread's
/// first call into the pool: with tl_heap null, even an allocation or a free
/// that would take a fast path comes to a slow path, which locks first.
[[gnu::tls_model("initial-exec")]] extern constinit thread_local ThreadHeap* tl_heap_before_fork;

/// Locks a forked child's pool once, and gives the forking thread its heap
/// back (another thread of the child may have locked first).
[[gnu::cold]] void lock_forked_child() noexcept;

inline bool is_unsettled_forked_child() noexcept {
  return g_forked_child_unlocked.load(std::memory_order_relaxed) || tl_heap_before_fork != nullptr;
}

/// Called first by every slow path of the pool (every call of a forked
/// child reaches one).
inline void lock_if_forked_child() noexcept {
  if (is_unsettled_forked_child()) [[unlikely]] lock_forked_child();
}

/// Registers the handlers once; called on the allocation slow path, after the
/// pool exists (registering may itself allocate).
void install_fork_handlers() noexcept;

// Each module's part, called by the handlers in a fixed order.
void pool_prepare_fork() noexcept;
void pool_parent_after_fork() noexcept;
void pool_child_after_fork() noexcept;
void heap_prepare_fork() noexcept;
void heap_parent_after_fork() noexcept;
void heap_child_after_fork() noexcept;
void region_prepare_fork() noexcept;
void region_parent_after_fork() noexcept;
void region_child_after_fork() noexcept;
void large_prepare_fork() noexcept;
void large_parent_after_fork() noexcept;
void large_child_after_fork() noexcept;

}  // namespace secbits::pool
