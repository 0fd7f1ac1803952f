#include "preload/router.hpp"

#include <mutex>
#include <new>
#include <unistd.h>

#include "pool/options.hpp"
#include "preload/options.hpp"

namespace secbits::preload {

constinit std::atomic<bool> g_ready{false};

namespace {

constinit std::mutex ready_mutex;

}  // namespace

void become_ready() noexcept {
  std::lock_guard lock(ready_mutex);
  if (g_ready.load(std::memory_order_relaxed)) return;
  read_options(environ);
  pool::g_lock_policy.store(g_options.lock, std::memory_order_relaxed);
  pool::g_page_protection.store(g_options.protect, std::memory_order_relaxed);
  g_ready.store(true, std::memory_order_release);
}

void* new_or_throw(std::size_t size, std::size_t alignment) {
  ensure_ready();
  for (;;) {
    if (void* block = pool::allocate_aligned(size, alignment)) return block;
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
