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

/// Where calls go: nowhere yet (the options are unread), the pool (mode all),
/// or jemalloc unless in a secure_scope. The fast paths read g_calls instead.
enum class Route : unsigned char { Unready, All, Tagged };
extern constinit std::atomic<Route> g_route;
/// secure_scope nesting depth of the calling thread; initial-exec and
/// constant-initialised, so reading it can never allocate.
[[gnu::tls_model("initial-exec")]] extern constinit thread_local unsigned tl_scope_depth;

/// Reads the options and applies them to the pool, once per process; the
/// route they give.
[[gnu::noinline, gnu::cold]] Route become_ready() noexcept;

inline Route ready_route() noexcept {
  const Route route = g_route.load(std::memory_order_acquire);
  return route == Route::Unready ? become_ready() : route;
}

inline bool serves_plain(Route route) noexcept { return route == Route::Tagged && tl_scope_depth == 0; }

/// The calls that depend on the route, so that a call finds its way with one
/// load instead of a test of the route: the allocations made outside any
/// secure_scope, and the frees and reallocs of blocks the pool does not own
/// (null among them). Until the options are read, functions that read them
/// and call again; then the pool's (mode all: a foreign block is diagnosed)
/// or jemalloc's (tagged).
struct RouteCalls {
  std::atomic<fallback::MallocFunction> malloc;
  std::atomic<fallback::CallocFunction> calloc;
  std::atomic<fallback::ReallocFunction> realloc_foreign;
  std::atomic<fallback::FreeFunction> free_foreign;
  std::atomic<fallback::NewFunction> new_;
};
// Hidden in the declaration too, so that every call addresses it directly,
// not through the GOT.
[[gnu::visibility("hidden")]] extern constinit RouteCalls g_calls;

/// Points g_calls at jemalloc's own functions, which the constructor can look
/// up once the process is running (tagged mode).
void bind_jemalloc_calls() noexcept;

/// The calls made inside a secure_scope: the pool's, once the options are
/// read. Out of line, so that the unscoped paths save no registers for them.
[[gnu::noinline]] void* allocate_scoped(std::size_t size) noexcept;
[[gnu::noinline]] void* allocate_zeroed_scoped(std::size_t size) noexcept;
[[gnu::noinline]] void* new_scoped(std::size_t size);
/// A realloc inside a scope of a block the pool does not own: jemalloc's
/// block moves into the pool (in mode all, the pool diagnoses it).
[[gnu::noinline]] void* reallocate_scoped(void* pointer, std::size_t size) noexcept;

/// operator new once its first try failed: runs the new-handler and tries
/// again until a block comes or the handler is gone (std::bad_alloc).
[[gnu::noinline]] void* new_after_failure(std::size_t size, std::size_t alignment);

/// The process's heap, as CRules sees it. Frees and reallocs go by
/// ownership first (one range compare), allocations by the scope first (one
/// thread-local read), then through g_calls.
struct RouterHeap {
  [[gnu::always_inline]] static void* allocate(std::size_t size) noexcept {
    if (tl_scope_depth == 0) [[likely]] return g_calls.malloc.load(std::memory_order_acquire)(size);
    return allocate_scoped(size);
  }
  [[gnu::always_inline]] static void* allocate_zeroed(std::size_t size) noexcept {
    if (tl_scope_depth == 0) [[likely]] return g_calls.calloc.load(std::memory_order_acquire)(1, size);
    return allocate_zeroed_scoped(size);
  }
  /// operator new and new[] at the default alignment: throws std::bad_alloc
  /// when no block comes.
  [[gnu::always_inline]] static void* allocate_new(std::size_t size) {
    if (tl_scope_depth == 0) [[likely]] return g_calls.new_.load(std::memory_order_acquire)(size);
    return new_scoped(size);
  }
  static void* allocate_aligned(std::size_t size, std::size_t alignment) noexcept {
    return serves_plain(ready_route()) ? fallback::allocate(size, alignment, false)
                                       : pool::allocate_aligned(size, alignment);
  }
  [[gnu::always_inline]] static void* reallocate(void* pointer, std::size_t size) noexcept {
    if (pool::owns(pointer)) return pool::reallocate(pointer, size);
    if (tl_scope_depth == 0) [[likely]] return g_calls.realloc_foreign.load(std::memory_order_acquire)(pointer, size);
    return reallocate_scoped(pointer, size);
  }
  [[gnu::always_inline]] static void release(void* pointer) noexcept {
    const std::uintptr_t offset = pool::region_offset(pointer);
    if (pool::owns_offset(offset)) return pool::deallocate_at(pointer, offset);
    g_calls.free_foreign.load(std::memory_order_acquire)(pointer);
  }
  /// free_sized and sized delete: `alignment` 0 when the call does not say.
  /// jemalloc's blocks go to its plain free: Debian's sdallocx takes its slow
  /// path (about 100 instructions against free's 37), and it would trust a
  /// size that programs get wrong.
  [[gnu::always_inline]] static void release_sized(void* pointer, std::size_t size, std::size_t alignment) noexcept {
    if (pool::owns(pointer)) return pool::deallocate_sized(pointer, size, alignment);
    g_calls.free_foreign.load(std::memory_order_acquire)(pointer);
  }
  static std::size_t usable_size(const void* pointer) noexcept {
    return pool::owns(pointer) || ready_route() == Route::All ? pool::usable_size(pointer)
                                                              : fallback::usable_size(pointer);
  }
};

using RouterC = pool::CRules<RouterHeap>;

/// The nothrow forms of new_after_failure: null where it would throw.
[[gnu::noinline]] void* new_or_null_after_failure(std::size_t size, std::size_t alignment) noexcept;

/// The default alignment of new is the one every block has (the pool's 16,
/// or, in jemalloc, alignment for any object that fits, as new under jemalloc
/// alone gives): such a new is a malloc.
inline void* try_new(std::size_t size, std::size_t alignment) noexcept {
  return alignment <= __STDCPP_DEFAULT_NEW_ALIGNMENT__ ? RouterHeap::allocate(size)
                                                       : RouterHeap::allocate_aligned(size, alignment);
}

/// operator new: throws std::bad_alloc when no block comes.
inline void* new_or_throw(std::size_t size, std::size_t alignment) {
  if (alignment <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) return RouterHeap::allocate_new(size);
  if (void* block = RouterHeap::allocate_aligned(size, alignment)) [[likely]] return block;
  return new_after_failure(size, alignment);
}
/// The nothrow forms: null where new_or_throw would throw.
inline void* new_or_null(std::size_t size, std::size_t alignment) noexcept {
  if (void* block = try_new(size, alignment)) [[likely]] return block;
  return new_or_null_after_failure(size, alignment);
}

}  // namespace secbits::preload
