#pragma once

#include <atomic>
#include <cstddef>

#include "pool/c_rules.hpp"
#include "pool/pool.hpp"
#include "preload/jemalloc_fallback.hpp"
#include "preload/options.hpp"

// Where each call of the interposer goes.
//  - Whole-process mode (SECBITS_MODE=all): every block comes from the secure
//    pool; a pointer the pool does not own is a bug, diagnosed, and aborts.
//  - Tagged mode: blocks asked for inside a secbits::secure_scope come from
//    the pool, all others from jemalloc.
// Frees, reallocs and size queries go by ownership (one range compare), not
// by mode or scope, so a block may be freed anywhere by anyone.
// The first call of the process, whatever it is (it may come before any
// constructor has run), reads the options first.
namespace secbits::preload {

extern constinit std::atomic<bool> g_ready;
/// secure_scope nesting depth of the calling thread; initial-exec and
/// constant-initialised, so reading it can never allocate.
[[gnu::tls_model("initial-exec")]] extern constinit thread_local unsigned tl_scope_depth;

/// Reads the options and applies them to the pool; once per process.
[[gnu::noinline, gnu::cold]] void become_ready() noexcept;

inline void ensure_ready() noexcept {
  if (!g_ready.load(std::memory_order_acquire)) [[unlikely]] become_ready();
}

inline bool serves_secure() noexcept { return g_options.mode == Mode::All || tl_scope_depth != 0; }

/// A realloc of a block the pool does not own: jemalloc's, or a bug.
[[gnu::noinline]] void* reallocate_foreign(void* pointer, std::size_t size) noexcept;

/// The process's heap, as CRules sees it.
struct RouterHeap {
  static void* allocate(std::size_t size) noexcept {
    ensure_ready();
    return serves_secure() ? pool::allocate(size) : fallback::allocate_plain(size);
  }
  static void* allocate_zeroed(std::size_t size) noexcept {
    ensure_ready();
    return serves_secure() ? pool::allocate_zeroed(size) : fallback::allocate(size, 0, true);
  }
  static void* allocate_aligned(std::size_t size, std::size_t alignment) noexcept {
    ensure_ready();
    return serves_secure() ? pool::allocate_aligned(size, alignment) : fallback::allocate(size, alignment, false);
  }
  static void* reallocate(void* pointer, std::size_t size) noexcept {
    ensure_ready();
    return pool::owns(pointer) ? pool::reallocate(pointer, size) : reallocate_foreign(pointer, size);
  }
  static void release(void* pointer) noexcept {
    ensure_ready();
    if (pool::owns(pointer) || g_options.mode == Mode::All) pool::deallocate(pointer);
    else if (pointer != nullptr) fallback::release(pointer);
  }
  /// free_sized and sized delete: `alignment` 0 when the call does not say.
  static void release_sized(void* pointer, std::size_t size, std::size_t alignment) noexcept {
    ensure_ready();
    if (pool::owns(pointer) || g_options.mode == Mode::All) pool::deallocate_sized(pointer, size, alignment);
    else if (pointer != nullptr) fallback::release(pointer);
  }
  static std::size_t usable_size(const void* pointer) noexcept {
    ensure_ready();
    return pool::owns(pointer) || g_options.mode == Mode::All ? pool::usable_size(pointer)
                                                              : fallback::usable_size(pointer);
  }
};

using RouterC = pool::CRules<RouterHeap>;

/// operator new: retries through the new-handler, then throws std::bad_alloc.
void* new_or_throw(std::size_t size, std::size_t alignment);
/// The nothrow forms: null where new_or_throw would throw.
void* new_or_null(std::size_t size, std::size_t alignment) noexcept;

}  // namespace secbits::preload
