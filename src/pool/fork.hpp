#pragma once

// fork() from a multi-threaded process: every lock of the pool is taken
// before the fork so that the child finds none of them held by a thread that
// does not exist there; the child then gives back the other threads' heaps
// and has the page source make every committed range its own (anonymous
// pages: locked again, as memory locks are not inherited; secret pages:
// fresh, zero-filled ones).
namespace secbits::pool {

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
