#include "pool/source/secret_source.hpp"

#include <atomic>
#include <cerrno>
#include <string.h>

#include "os/diagnostics.hpp"
#include "os/memlock.hpp"
#include "os/pages.hpp"
#include "os/secret.hpp"
#include "pool/stats.hpp"

// Secret memory, as measured on Linux 6.18 (tests/guarantees/
// secret_source_test.cpp, secret_syscalls_test.cpp):
//  - the kernel locks it itself and charges RLIMIT_MEMLOCK when it is mapped:
//    a refusal is EAGAIN (or EPERM) from mmap, which the lock policy handles
//    like a refused mlock; munlockall does not unlock it;
//  - mprotect works, so closed pages are PROT_NONE as in the anonymous source;
//  - it cannot punch holes (fallocate and MADV_REMOVE/DONTNEED fail): pages
//    go back to the kernel only when no mapping of their file is left, so
//    every commit is a file of its own and decommit replaces the mapping
//    whole (the pool never gives back part of a secret range);
//  - it can only be mapped shared: a forked child would share the parent's
//    pages. They are MADV_DONTFORK (the child gets a hole), and the child maps
//    fresh zero-filled secret memory in their place. (Whole-process mode does
//    not use this source: glibc's fork writes into malloc'd objects in the
//    child before any fork handler runs, which would be the parent's pages.)
namespace secbits::pool {

namespace {

void report_no_secret_in_child(os::Status status) noexcept {
  static constinit std::atomic<bool> reported{false};
  if (reported.exchange(true, std::memory_order_relaxed)) return;
  char reason[128];
  const char* parts[] = {"secbits: the kernel refused secret memory in a forked child (", status.operation, ": ",
                         ::strerror_r(status.error, reason, sizeof reason),
                         "), which fork() cannot fail for: the child's pool pages are anonymous memory, zero-filled, "
                         "undumpable and unlocked; further occurrences are not reported"};
  os::write_stderr_line(parts, sizeof parts / sizeof parts[0]);
}

void report_child_faults(os::Status status) noexcept {
  static constinit std::atomic<bool> reported{false};
  if (reported.exchange(true, std::memory_order_relaxed)) return;
  char reason[128];
  const char* parts[] = {"secbits: a forked child could not map memory where its parent's secret pages were (",
                         status.operation, ": ", ::strerror_r(status.error, reason, sizeof reason),
                         "): those blocks are PROT_NONE in the child, which faults if it touches them"};
  os::write_stderr_line(parts, sizeof parts / sizeof parts[0]);
}

/// Anonymous pages at `pages`, read-write, undumpable, zeroed, never
/// shared with a child (what the degrade policy serves in place of secret
/// memory).
os::Status map_anonymous_in_place(std::byte* pages, std::size_t bytes) noexcept {
  if (const os::Status status = os::exclude_from_dump(pages, bytes); !status.ok()) return status;
  if (const os::Status status = os::wipe_on_fork(pages, bytes); !status.ok()) return status;
  return os::protect(pages, bytes, Protection::ReadWrite);
}

class SecretSource final : public Source {
 public:
  const char* name() const noexcept override { return "secret"; }
  bool extends_in_place() const noexcept override { return false; }
  bool gives_back_part_of_a_range() const noexcept override { return false; }
  bool child_repairs_reservation() const noexcept override { return true; }
  // The child's ranges are holes until it maps fresh secret memory there.
  bool child_only_relocks() const noexcept override { return false; }

  bool may_serve_unlocked(os::Status refusal) const noexcept override {
    // Out of file descriptors is as much a budget as RLIMIT_MEMLOCK: a
    // server at its limit keeps working on anonymous pages.
    return os::is_lock_budget_error(refusal.error) || refusal.error == EMFILE || refusal.error == ENFILE;
  }

  // The kernel keeps secret memory locked through munlockall and never
  // copies a lock into a child: nothing to redo.
  void relock(void*, std::size_t, const char*) noexcept override {}

  Renewal renew_in_child(std::byte* pages, std::size_t bytes, bool locked) noexcept override {
    // Unlocked ranges are anonymous memory the degrade policy accepted,
    // MADV_WIPEONFORK: the child already reads zeros there.
    if (!locked) return Renewal::Kept;
    const os::Status status = os::map_secret(pages, bytes, Protection::ReadWrite);
    if (status.ok()) {
      // The child's own pages either way: without MADV_DONTFORK only a
      // grandchild made without fork handlers would share them.
      (void)os::exclude_from_fork(pages, bytes);
      return Renewal::ReadWrite;
    }
    // Never a hole another mapping could take, never the parent's pages.
    add(g_counters.lock_failures, 1);
    if (const os::Status fallback = os::return_to_reservation(pages, bytes); fallback.ok() &&
                                                                               map_anonymous_in_place(pages, bytes).ok()) {
      report_no_secret_in_child(status);
      return Renewal::ReadWriteUnlocked;
    }
    report_child_faults(status);
    (void)os::return_to_reservation(pages, bytes);
    return Renewal::Failed;
  }

 protected:
  os::Status commit_locked(std::byte* pages, std::size_t bytes) noexcept override {
    os::Status status = os::map_secret(pages, bytes, Protection::ReadWrite);
    if (status.ok()) status = os::exclude_from_fork(pages, bytes);
    if (!status.ok()) {
      // The kernel checks RLIMIT_MEMLOCK only once it has unmapped what
      // MAP_FIXED replaces: put the reservation back, or a hole is left
      // that any mmap of the program could take.
      (void)os::return_to_reservation(pages, bytes);
    }
    return status;
  }

  os::Status commit_unlocked(std::byte* pages, std::size_t bytes) noexcept override {
    return map_anonymous_in_place(pages, bytes);
  }
};

constinit SecretSource source;

}  // namespace

Source& secret_source() noexcept { return source; }

}  // namespace secbits::pool
