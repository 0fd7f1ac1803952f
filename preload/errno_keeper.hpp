#pragma once

#include <cerrno>
#include <cstddef>

// errno across jemalloc's free, the one call on the interposer's fast paths
// that may change it. os::ErrnoGuard asks libc for errno's address, a call
// through the PLT each time; but errno lives in libc's static TLS block, at
// the same distance from the thread pointer in every thread, so that
// distance, learnt once, gives the address in two instructions.
namespace secbits::preload {

/// Learnt by become_ready before it points any call at a function that
/// keeps errno; zero (the thread control block itself) until then.
[[gnu::visibility("hidden")]] inline constinit std::ptrdiff_t g_errno_offset = 0;

inline void learn_errno_offset() noexcept {
  g_errno_offset = reinterpret_cast<char*>(&errno) - static_cast<char*>(__builtin_thread_pointer());
}

/// Keeps errno across a scope, as free must.
class ErrnoKeeper {
 public:
  ErrnoKeeper() noexcept : saved_(*location()) {}
  ~ErrnoKeeper() { *location() = saved_; }
  ErrnoKeeper(const ErrnoKeeper&) = delete;
  ErrnoKeeper& operator=(const ErrnoKeeper&) = delete;

 private:
  static int* location() noexcept {
    return reinterpret_cast<int*>(static_cast<char*>(__builtin_thread_pointer()) + g_errno_offset);
  }
  int saved_;
};

}  // namespace secbits::preload
