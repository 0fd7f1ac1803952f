#pragma once

#include <atomic>
#include <cstddef>

// The test seam of the OS layer: makes chosen kernel operations fail, and
// the kernel look like another one (where a reservation lands, the page
// size), so that tests reach on this machine what a user's kernel and limits
// may do. Unused, it costs one relaxed load on paths that make a syscall
// anyway. Hidden: libsecbits.so and the interposer do not export it; the
// tests reach it through the static library.
namespace secbits::os {

/// Each kernel operation the OS layer makes, as the seam counts them.
enum class Operation : unsigned {
  Reserve,         // mmap of address space (PROT_NONE, MAP_NORESERVE)
  MapBookkeeping,  // mmap of the allocator's own zero-filled metadata
  MapGuarded,      // mmap + mprotect of a guarded region (SecMem)
  Return,          // mmap(MAP_FIXED) giving pages back to a reservation
  Protect,         // mprotect
  Advise,          // madvise (DONTDUMP, WIPEONFORK)
  Lock,            // mlock (and mlock2, unless LockOnFault fails it first)
  LockOnFault,     // mlock2(MLOCK_ONFAULT) alone: ENOSYS imitates a kernel without it
  Secret,          // memfd_secret + mmap of secret pages: ENOSYS imitates a kernel without it
  Seal,            // mseal: ENOSYS imitates a kernel before 6.10 (Debian 12's 6.1)
  Count
};

namespace detail {
extern constinit std::atomic<bool> g_injecting;
int injected_error_slow(Operation operation) noexcept;
std::size_t injected_misalignment() noexcept;
std::size_t injected_page_size() noexcept;
}  // namespace detail

/// The errno the seam makes this call of `operation` fail with, or 0 to let
/// it reach the kernel. Counts the call either way while injection is on.
inline int injected_error(Operation operation) noexcept {
  if (!detail::g_injecting.load(std::memory_order_relaxed)) [[likely]] return 0;
  return detail::injected_error_slow(operation);
}

namespace testing {

/// Makes call number `nth` (1 = the next one) of `operation` fail with
/// `error`; with `and_after`, every later call too.
void inject_failure(Operation operation, unsigned nth, int error, bool and_after = false) noexcept;
/// Reservations land `bytes` past a 2 MiB boundary, as on kernels that only
/// page-align large anonymous mappings (6.1) rather than THP-align them.
void misalign_reservations(std::size_t bytes) noexcept;
/// page_size() reports `bytes` (0: the real one).
void fake_page_size(std::size_t bytes) noexcept;
/// Calls of `operation` seen since the seam was last reset.
std::size_t calls(Operation operation) noexcept;
/// Counting on, no failure injected: what a sweep runs first to learn how
/// many calls of each operation a scenario makes.
void start_counting() noexcept;
/// Everything off, counts cleared.
void reset() noexcept;

}  // namespace testing

}  // namespace secbits::os
