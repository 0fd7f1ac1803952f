#pragma once

#include <cstddef>
#include <cstdint>

#include <secbits/protection.hpp>

#include "os/status.hpp"

// Where the pool's pages come from. The small zone (region.cpp), the large
// zone (large.cpp) and fork (fork.cpp) only say what they need: commit these
// pages, give them back, open or close them, keep them locked, renew them in
// a forked child. The source decides how, applies the lock policy, counts
// commits, flips and mappings, and is the pool's only caller of src/os/ for
// page state. Two sources implement it: anonymous_source.cpp (private
// anonymous memory, mlock, MADV_DONTDUMP) and secret_source.cpp (memfd_secret).
//
// Every range a source commits lies inside the reservation (PROT_NONE,
// MAP_NORESERVE, MADV_DONTDUMP) and goes back to it on decommit. "Locked"
// ranges are the ones the source backs with its own memory (locked by mlock,
// or secret and locked by the kernel); an unlocked range is what the degrade
// policy accepted instead: anonymous, unlocked, still undumpable and wiped.
namespace secbits::pool {

class Source {
 public:
  /// "anonymous" or "secret": what statistics and diagnostics call it.
  virtual const char* name() const noexcept = 0;

  /// Makes `bytes` at `pages` usable, read-write. A refused lock (or secret
  /// mapping) first gives back the memory the pool only caches and tries
  /// again; then the lock policy decides: strict fails (false, errno ENOMEM,
  /// pages left PROT_NONE), degrade serves them unlocked (*locked false) and
  /// says so once on stderr.
  bool commit(std::byte* pages, std::size_t bytes, bool* locked) noexcept;
  /// Returns wiped pages to the reservation: discarded, unlocked, PROT_NONE.
  void decommit(std::byte* pages, std::size_t bytes, bool locked) noexcept;

  /// Wipes committed pages that are open, touching only the resident ones:
  /// for a large block, most of whose pages a program may never touch.
  /// True if every page was resident.
  bool wipe(void* pages, std::size_t bytes) noexcept;

  /// Changes the access to committed pages, counting the flip; false if the
  /// kernel refused (the mapping limit).
  bool protect(void* pages, std::size_t bytes, Protection protection) noexcept;

  /// Whether pages committed right after a committed range join its mapping.
  /// False for secret memory (each commit is a file of its own), whose
  /// large blocks therefore never grow in place: that would cost a mapping.
  virtual bool extends_in_place() const noexcept = 0;
  /// Whether decommitting the tail of a committed range gives its pages
  /// back. False for secret memory: a file's pages stay until its whole
  /// mapping is gone, so its large blocks never shrink in place either.
  virtual bool gives_back_part_of_a_range() const noexcept = 0;
  /// Whether a forked child must put the reservation back over every range
  /// its bookkeeping does not call committed: a range another thread was
  /// mapping or unmapping at the fork reaches the child as the parent's
  /// shared pages or as a hole (MADV_DONTFORK).
  virtual bool child_repairs_reservation() const noexcept = 0;
  /// Whether renew_in_child only locks committed ranges again (nothing else
  /// in the child depends on it, so it may wait; see fork.hpp).
  virtual bool child_only_relocks() const noexcept = 0;
  /// Whether the degrade policy may serve unlocked pages after
  /// commit_locked was refused for `refusal` (a budget, not a bug).
  virtual bool may_serve_unlocked(os::Status refusal) const noexcept = 0;

  /// Locks a committed, locked range again after the program's munlockall
  /// or in a forked child; a refusal is counted and said once on stderr,
  /// `because` naming who unlocked.
  virtual void relock(void* pages, std::size_t bytes, const char* because) noexcept = 0;

  /// What renew_in_child left behind.
  enum class Renewal {
    Kept,               // the same mapping, protections as they were
    ReadWrite,          // a new mapping, read-write throughout: close what was closed
    ReadWriteUnlocked,  // the same, but unlocked anonymous pages (the kernel refused)
    Failed,             // PROT_NONE: the child faults there rather than share a secret
  };
  /// In a forked child, before it runs any code of the program: makes a
  /// committed range the child's own, as the source's fork semantics say.
  virtual Renewal renew_in_child(std::byte* pages, std::size_t bytes, bool locked) noexcept = 0;

 protected:
  /// The source's own commit: its memory at `pages`, read-write, locked.
  /// On failure the pages are back to PROT_NONE and the status says why.
  virtual os::Status commit_locked(std::byte* pages, std::size_t bytes) noexcept = 0;
  /// What the degrade policy serves when commit_locked was refused.
  virtual os::Status commit_unlocked(std::byte* pages, std::size_t bytes) noexcept = 0;

  ~Source() = default;
};

/// In a forked child: the reservation again over a range the child's
/// bookkeeping does not call committed (see child_repairs_reservation).
void repair_reservation(void* pages, std::size_t bytes) noexcept;
/// A range renew_in_child could only give unlocked pages: moved from the
/// locked to the unlocked count.
void count_as_unlocked(std::size_t bytes) noexcept;

/// The source the pool draws from; fixed when the pool is first used.
Source& page_source() noexcept;

/// Chooses the source from the one asked for (set_page_source, SECBITS_SOURCE):
/// auto takes secret memory where the kernel gives it and says once on
/// stderr when it falls back. False when secret memory was asked for and the
/// kernel refuses it (said once on stderr; the pool then cannot exist).
bool choose_page_source() noexcept;

/// Called when a lock or a mapping is refused: gives back memory kept only
/// for reuse. Set by the region once it exists.
using CacheReleaser = bool (*)() noexcept;
void set_cache_releaser(CacheReleaser releaser) noexcept;
bool release_cached_memory() noexcept;

/// Address space for the pool: PROT_NONE, MAP_NORESERVE, MADV_DONTDUMP (so
/// that every page committed later inherits the flag), at a multiple of
/// `alignment`.
os::Status reserve_address_space(std::size_t bytes, std::size_t alignment, std::byte** base) noexcept;
/// Zero-filled, undumpable memory for the pool's own bookkeeping.
os::Status map_bookkeeping(std::size_t bytes, void** base) noexcept;
/// Unmaps either of the above, when setting up the pool fails half-way.
void unmap_address_space(void* base, std::size_t bytes) noexcept;

// The mapping budget (half of vm.max_map_count: the rest is the program's).
// Every mapping the pool causes is counted against it before it is made.

void set_mapping_budget(std::size_t budget, std::int64_t already_used) noexcept;
/// Claims `count` more mappings. At the budget, memory kept only for reuse
/// is given back first; false with errno ENOMEM if that was not enough, so
/// that the allocation fails rather than the program's next mmap or thread.
bool claim_mappings(std::int64_t count) noexcept;
void release_mappings(std::int64_t count) noexcept;
/// Whether `more` mappings fit without claiming them (for flips that may
/// be skipped instead).
bool within_mapping_budget(std::int64_t more) noexcept;
/// Records a change the pool already made (a flip that split or merged).
void adjust_mapping_estimate(std::int64_t delta) noexcept;

}  // namespace secbits::pool
