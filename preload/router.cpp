#include "preload/router.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <unistd.h>

#include "pool/death_purge.hpp"
#include "pool/hardening.hpp"
#include "pool/options.hpp"
#include "pool/pool_heap.hpp"
#include "pool/stats.hpp"
#include "preload/errno_keeper.hpp"
#include "preload/new_handler_loop.hpp"

namespace secbits::preload {

constinit std::atomic<Route> g_route{Route::Unready};
[[gnu::tls_model("initial-exec")]] constinit thread_local unsigned tl_scope_depth = 0;

namespace {

constinit std::mutex ready_mutex;

// The calls of the process before the options are read: they read them,
// then call again, through the route the options give.
void* malloc_first(std::size_t size) noexcept {
  become_ready();
  return RouterHeap::allocate(size);
}
void* calloc_first(std::size_t count, std::size_t size) noexcept {
  become_ready();
  return RouterC::calloc(count, size);
}
void* realloc_first(void* pointer, std::size_t size) noexcept {
  become_ready();
  return RouterHeap::reallocate(pointer, size);
}
void free_first(void* pointer) noexcept {
  become_ready();
  RouterHeap::release(pointer);
}
void* new_first(std::size_t size) {
  become_ready();
  return RouterHeap::allocate_new(size);
}

// Mode all's calls, the pool's: a foreign block is diagnosed there.
void* malloc_from_pool(std::size_t size) noexcept { return pool::allocate(size); }
void* calloc_from_pool(std::size_t count, std::size_t size) noexcept { return pool::PoolC::calloc(count, size); }
void free_to_pool(void* pointer) noexcept { pool::deallocate(pointer); }
void* new_from_pool(std::size_t size) {
  if (void* block = pool::allocate(size)) [[likely]] return block;
  return new_after_failure(size, __STDCPP_DEFAULT_NEW_ALIGNMENT__);
}

// Release: a call that finds a pointer sees all that become_ready did before.
void point_calls(Route route) noexcept {
  if (route == Route::All) {
    g_calls.malloc.store(malloc_from_pool, std::memory_order_release);
    g_calls.calloc.store(calloc_from_pool, std::memory_order_release);
    g_calls.realloc_foreign.store(pool::reallocate, std::memory_order_release);
    g_calls.free_foreign.store(free_to_pool, std::memory_order_release);
    g_calls.new_.store(new_from_pool, std::memory_order_release);
    return;
  }
  const fallback::PlainCalls plain = fallback::plain_calls();
  g_calls.malloc.store(plain.malloc, std::memory_order_release);
  g_calls.calloc.store(plain.calloc, std::memory_order_release);
  g_calls.realloc_foreign.store(plain.realloc, std::memory_order_release);
  g_calls.free_foreign.store(fallback::release, std::memory_order_release);
  g_calls.new_.store(plain.new_, std::memory_order_release);
}

}  // namespace

constinit RouteCalls g_calls{malloc_first, calloc_first, realloc_first, free_first, new_first};

Route become_ready() noexcept {
  std::lock_guard lock(ready_mutex);
  if (const Route route = g_route.load(std::memory_order_relaxed); route != Route::Unready) return route;
  read_options(environ);
  pool::g_lock_policy.store(g_options.lock, std::memory_order_relaxed);
  pool::g_page_protection.store(g_options.protect, std::memory_order_relaxed);
  pool::g_requested_source.store(g_options.source, std::memory_order_relaxed);
  (void)pool::request_hardening(g_options.hardening);  // no allocation has reached the pool yet
  pool::choose_purge_signals(g_options.purge);
  if (g_options.mode == Mode::Tagged) pool::g_fallback_bytes_in_use.store(fallback::bytes_in_use);
  learn_errno_offset();
  const Route route = g_options.mode == Mode::All ? Route::All : Route::Tagged;
  point_calls(route);
  g_route.store(route, std::memory_order_release);
  return route;
}

void bind_jemalloc_calls() noexcept {
  fallback::bind_fast_paths();
  if (ready_route() == Route::Tagged) point_calls(Route::Tagged);
}

void* allocate_scoped(std::size_t size) noexcept {
  ready_route();
  return pool::allocate(size);
}

void* allocate_zeroed_scoped(std::size_t size) noexcept {
  ready_route();
  return pool::allocate_zeroed(size);
}

void* new_scoped(std::size_t size) {
  ready_route();
  return new_from_pool(size);
}

void* reallocate_scoped(void* pointer, std::size_t size) noexcept {
  if (ready_route() == Route::All) return pool::reallocate(pointer, size);  // diagnoses the pointer
  // jemalloc's block is freed as it is: it was never secure, and is not ours
  // to wipe.
  void* moved = pool::allocate(size);
  if (moved == nullptr) return nullptr;
  std::memcpy(moved, pointer, std::min(size, fallback::usable_size(pointer)));
  fallback::release(pointer);
  return moved;
}

void* new_after_failure(std::size_t size, std::size_t alignment) {
  return retry_through_new_handler([=] { return try_new(size, alignment); });
}

void* new_or_null_after_failure(std::size_t size, std::size_t alignment) noexcept {
  try {
    return new_after_failure(size, alignment);
  } catch (...) {
    return nullptr;
  }
}

}  // namespace secbits::preload
