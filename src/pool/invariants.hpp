#pragma once

// The invariants of the pool's bookkeeping, checked where the slow paths
// change it, in builds made with SECBITS_CHECK_INVARIANTS (the sanitizer
// builds of the test command); release builds compile the checks away.
// A broken invariant aborts with one line naming the slab or span and what
// no longer adds up.
namespace secbits::pool {

struct Slab;
struct ThreadHeap;

#if defined(SECBITS_CHECK_INVARIANTS)
inline constexpr bool kCheckInvariants = true;
#else
inline constexpr bool kCheckInvariants = false;
#endif

/// A slab as its owner sees it: free bits + live blocks = block count, the
/// per-page live counts match the live blocks, live blocks sit on open
/// pages, pages waiting to close hold no live block and are open, the hint
/// is a lower bound of the free words.
void check_slab(const Slab& slab) noexcept;
/// Every slab of a heap is on the list it says, with consistent links, its
/// cached blocks are its own, of their class and marked, and the heap's
/// count of waiting pages matches its pending slabs.
void check_heap(const ThreadHeap& heap) noexcept;

inline void debug_check_slab(const Slab& slab) noexcept {
  if constexpr (kCheckInvariants) check_slab(slab);
}
inline void debug_check_heap(const ThreadHeap& heap) noexcept {
  if constexpr (kCheckInvariants) check_heap(heap);
}

}  // namespace secbits::pool
