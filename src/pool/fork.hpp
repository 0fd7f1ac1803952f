#pragma once

#include <atomic>

// fork() from a multi-threaded process: every lock of the pool is taken
// before the fork so that the child finds none of them held by a thread that
// does not exist there; the child then gives back the other threads' heaps
// and has the page source make every committed range its own (anonymous
// pages: locked again, as memory locks are not inherited, on the child's
// first call into the pool; secret pages: fresh, zero-filled ones, at once).
namespace secbits::pool {

/// Registers the handlers once; called on the allocation slow path, after the
/// pool exists (registering may itself allocate).
void install_fork_handlers() noexcept;

/// Whether a forked child has yet to lock its pool again. The anonymous
/// source's renewal is only that relock, and its cost is a walk of every
/// resident page of the pool: a child that execs right away (fork + exec)
/// would pay it for nothing. It is made on the child's first call into the
/// pool instead, which the child's first allocation or free is (the handler
/// sets the forking thread's heap aside, so that its fast paths miss).
extern constinit std::atomic<bool> g_relock_waits;
[[gnu::noinline, gnu::cold]] void relock_after_fork() noexcept;
inline void relock_if_forked() noexcept {
  if (g_relock_waits.load(std::memory_order_relaxed)) [[unlikely]] relock_after_fork();
}

// Each module's part, called by the handlers in a fixed order.
void pool_prepare_fork() noexcept;
void pool_parent_after_fork() noexcept;
void pool_child_after_fork() noexcept;
void heap_prepare_fork() noexcept;
void heap_parent_after_fork() noexcept;
void heap_child_after_fork() noexcept;
void zero_size_prepare_fork() noexcept;
void zero_size_parent_after_fork() noexcept;
void zero_size_child_after_fork() noexcept;
void region_prepare_fork() noexcept;
void region_parent_after_fork() noexcept;
void region_child_after_fork() noexcept;
void large_prepare_fork() noexcept;
void large_parent_after_fork() noexcept;
void large_child_after_fork() noexcept;

}  // namespace secbits::pool
