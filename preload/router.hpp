#pragma once

#include <atomic>
#include <cstddef>

#include "pool/c_semantics.hpp"
#include "pool/pool.hpp"

// Where each call of the interposer goes. Whole-process mode: every block
// comes from the secure pool. The first call of the process, whatever it is
// (it may come before any constructor has run), reads the options first.
namespace secbits::preload {

extern constinit std::atomic<bool> g_ready;

/// Reads the options and applies them to the pool; once per process.
[[gnu::noinline, gnu::cold]] void become_ready() noexcept;

inline void ensure_ready() noexcept {
  if (!g_ready.load(std::memory_order_relaxed)) [[unlikely]] become_ready();
}

/// The interposer's own answer to "which pointers are mine", for free-like
/// calls: an unknown pointer is a one-line diagnostic and an abort.
inline void release(void* pointer) noexcept {
  ensure_ready();
  pool::c_free(pointer);
}

/// operator new: retries through the new-handler, then throws std::bad_alloc.
void* new_or_throw(std::size_t size, std::size_t alignment);
/// The nothrow forms: null where new_or_throw would throw.
void* new_or_null(std::size_t size, std::size_t alignment) noexcept;

}  // namespace secbits::preload
