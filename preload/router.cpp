#include "preload/router.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <unistd.h>

#include "pool/death_purge.hpp"
#include "pool/hardening.hpp"
#include "pool/options.hpp"
#include "pool/stats.hpp"

namespace secbits::preload {

constinit std::atomic<bool> g_ready{false};
[[gnu::tls_model("initial-exec")]] constinit thread_local unsigned tl_scope_depth = 0;

namespace {

constinit std::mutex ready_mutex;

}  // namespace

void become_ready() noexcept {
  std::lock_guard lock(ready_mutex);
  if (g_ready.load(std::memory_order_relaxed)) return;
  read_options(environ);
  pool::g_lock_policy.store(g_options.lock, std::memory_order_relaxed);
  pool::g_page_protection.store(g_options.protect, std::memory_order_relaxed);
  pool::g_requested_source.store(g_options.source, std::memory_order_relaxed);
  (void)pool::request_hardening(g_options.hardening);  // no allocation has reached the pool yet
  pool::choose_purge_signals(g_options.purge);
  if (g_options.mode == Mode::Tagged) pool::g_fallback_bytes_in_use.store(fallback::bytes_in_use);
  g_ready.store(true, std::memory_order_release);
}

void* reallocate_foreign(void* pointer, std::size_t size) noexcept {
  if (g_options.mode == Mode::All) return pool::reallocate(pointer, size);  // diagnoses the pointer
  if (tl_scope_depth == 0) return fallback::reallocate(pointer, size);
  // An ordinary block grown inside a scope moves into the pool. jemalloc's
  // block is freed as it is: it was never secure, and is not ours to wipe.
  void* moved = pool::allocate(size);
  if (moved == nullptr) return nullptr;
  std::memcpy(moved, pointer, std::min(size, fallback::usable_size(pointer)));
  fallback::release(pointer);
  return moved;
}

void* new_or_throw(std::size_t size, std::size_t alignment) {
  for (;;) {
    if (void* block = RouterHeap::allocate_aligned(size, alignment)) return block;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void* new_or_null(std::size_t size, std::size_t alignment) noexcept {
  try {
    return new_or_throw(size, alignment);
  } catch (...) {
    return nullptr;
  }
}

}  // namespace secbits::preload
