#include "pool/source/secret_source.hpp"

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

#include "os/diagnostics.hpp"
#include "os/memlock.hpp"
#include "os/pages.hpp"
#include "os/secret.hpp"
#include "os/wipe.hpp"
#include "pool/layout.hpp"
#include "pool/options.hpp"
#include "pool/stats.hpp"

// Secret memory, as measured on Linux 6.1 and 6.18 (tests/guarantees/
// secret_source_test.cpp):
//  - the kernel locks it itself and charges RLIMIT_MEMLOCK when it is mapped:
//    a refusal is EAGAIN (or EPERM) from mmap, which the lock policy handles
//    like a refused mlock; munlockall does not unlock it;
//  - mprotect works, so closed pages are PROT_NONE as in the anonymous source;
//  - it cannot punch holes (fallocate and MADV_REMOVE/DONTNEED fail): pages
//    go back to the kernel only when no mapping of their file is left, so
//    every commit is a file of its own and decommit replaces the mapping;
//  - it is MAP_SHARED: a forked child would share the parent's pages. Under
//    SecretPagesInChild::Zeroed the pages are MADV_DONTFORK (the child gets a
//    hole) and the child maps fresh zero-filled secret memory in their place;
//    under Copied the child copies them into fresh secret memory before the
//    parent's fork() returns.
namespace secbits::pool {

namespace {

constexpr const char* kInChild = "in a forked child, which fork() cannot fail for";

void report_no_secret_in_child() noexcept {
  static constinit std::atomic<bool> reported{false};
  if (reported.exchange(true, std::memory_order_relaxed)) return;
  const char* parts[] = {"secbits: the kernel refused secret memory in a forked child, which fork() cannot fail for: "
                         "the child's copy of the pool is anonymous memory (locked, undumpable, not shared with "
                         "the parent, readable by root); further occurrences are not reported"};
  os::write_stderr_line(parts, 1);
}

bool child_gets_copies() noexcept {
  return g_secret_pages_in_child.load(std::memory_order_relaxed) == SecretPagesInChild::Copied;
}

/// Fresh memory for a forked child's copy, anywhere: secret, or, when the
/// kernel refuses secret memory now, anonymous (undumpable; locked once in
/// place).
os::Status map_fresh_anywhere(std::size_t bytes, std::byte** fresh, bool* secret) noexcept {
  *secret = os::map_secret_anywhere(bytes, fresh).ok();
  if (*secret) return {};
  void* anonymous = nullptr;
  const os::Status status = os::map_bookkeeping(bytes, &anonymous);
  *fresh = static_cast<std::byte*>(anonymous);
  return status;
}

/// Copies the resident pages of the child's (still shared) mapping at
/// `pages` into fresh memory and moves that over it.
os::Status copy_into_fresh(std::byte* pages, std::size_t bytes, bool* secret) noexcept {
  std::byte* fresh = nullptr;
  if (const os::Status status = map_fresh_anywhere(bytes, &fresh, secret); !status.ok()) return status;
  // The child's own view of the shared pages, opened to read them: closed
  // pages hold nothing but zeros, and only resident pages were ever written.
  if (const os::Status status = os::protect(pages, bytes, Protection::ReadOnly); !status.ok()) {
    (void)os::unmap(fresh, bytes);
    return status;
  }
  constexpr std::size_t kChunkPages = 512;
  unsigned char residency[kChunkPages];
  for (std::size_t offset = 0; offset < bytes; offset += kChunkPages * kPageSize) {
    const std::size_t chunk = bytes - offset < kChunkPages * kPageSize ? bytes - offset : kChunkPages * kPageSize;
    if (const os::Status status = os::resident_pages(pages + offset, chunk, residency); !status.ok()) {
      os::secure_wipe(fresh, bytes);
      (void)os::unmap(fresh, bytes);
      return status;
    }
    for (std::size_t page = 0; page < chunk / kPageSize; ++page) {
      if ((residency[page] & 1) == 0) continue;
      __builtin_memcpy(fresh + offset + page * kPageSize, pages + offset + page * kPageSize, kPageSize);
    }
  }
  if (const os::Status status = os::move_mapping(fresh, bytes, pages); !status.ok()) {
    os::secure_wipe(fresh, bytes);
    (void)os::unmap(fresh, bytes);
    return status;
  }
  return {};
}

/// Zero-filled memory in place of the hole MADV_DONTFORK left: secret, or
/// anonymous when the kernel refuses secret memory now.
os::Status map_fresh_in_place(std::byte* pages, std::size_t bytes, bool* secret) noexcept {
  *secret = os::map_secret(pages, bytes, Protection::ReadWrite).ok();
  if (*secret) return {};
  if (const os::Status status = os::return_to_reservation(pages, bytes); !status.ok()) return status;
  return os::protect(pages, bytes, Protection::ReadWrite);
}

class SecretSource final : public Source {
 public:
  const char* name() const noexcept override { return "secret"; }
  bool extends_in_place() const noexcept override { return false; }

  // The kernel keeps secret memory locked through munlockall and never
  // copies a lock into a child: nothing to redo.
  void relock(void*, std::size_t, const char*) noexcept override {}

  Renewal renew_in_child(std::byte* pages, std::size_t bytes, bool locked) noexcept override {
    // Unlocked ranges are anonymous memory the degrade policy accepted:
    // inherited copy-on-write (or wiped on fork, see commit_unlocked).
    if (!locked) return Renewal::Kept;
    bool secret = false;
    const os::Status status =
        child_gets_copies() ? copy_into_fresh(pages, bytes, &secret) : map_fresh_in_place(pages, bytes, &secret);
    if (!status.ok()) {
      // Never leave the child sharing the parent's pages, nor a hole another
      // mapping could take: it faults there instead.
      add(g_counters.lock_failures, 1);
      os::warn_unlocked_once(status, bytes, kInChild);
      (void)os::return_to_reservation(pages, bytes);
      return Renewal::Failed;
    }
    if (!secret) {
      // The kernel refused secret memory in the child: its own pages are
      // anonymous, locked on touch, never shared with the parent. Said once.
      add(g_counters.lock_failures, 1);
      report_no_secret_in_child();
      if (const os::Status locking = os::lock_on_fault(pages, bytes); !locking.ok()) {
        os::warn_unlocked_once(locking, bytes, kInChild);
      }
    }
    return Renewal::ReadWrite;
  }

 protected:
  os::Status commit_locked(std::byte* pages, std::size_t bytes) noexcept override {
    if (const os::Status status = os::map_secret(pages, bytes, Protection::ReadWrite); !status.ok()) {
      // The kernel checks RLIMIT_MEMLOCK only once it has unmapped what
      // MAP_FIXED replaces: put the reservation back, or a hole is left
      // that any mmap of the program could take.
      (void)os::return_to_reservation(pages, bytes);
      return status;
    }
    if (!child_gets_copies()) {
      if (const os::Status status = os::exclude_from_fork(pages, bytes); !status.ok()) {
        (void)os::return_to_reservation(pages, bytes);
        return status;
      }
    }
    return {};
  }

  os::Status commit_unlocked(std::byte* pages, std::size_t bytes) noexcept override {
    if (const os::Status status = os::exclude_from_dump(pages, bytes); !status.ok()) return status;
    if (!child_gets_copies()) {
      if (const os::Status status = os::wipe_on_fork(pages, bytes); !status.ok()) return status;
    }
    return os::protect(pages, bytes, Protection::ReadWrite);
  }
};

constinit SecretSource source;

// The pipe the parent's fork handler reads until the child has its copies.
constinit int copied_read_end = -1;
constinit int copied_write_end = -1;

}  // namespace

Source& secret_source() noexcept { return source; }

void secret_prepare_fork() noexcept {
  if (&page_source() != &source || !child_gets_copies()) return;
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) != 0) return;
  copied_read_end = ends[0];
  copied_write_end = ends[1];
}

void secret_parent_after_fork() noexcept {
  if (copied_read_end < 0) return;
  ::close(copied_write_end);
  // EOF once the child has closed its end: after copying, or by dying.
  for (char byte;;) {
    const ssize_t got = ::read(copied_read_end, &byte, 1);
    if (got == 0 || (got < 0 && errno != EINTR)) break;
  }
  ::close(copied_read_end);
  copied_read_end = copied_write_end = -1;
}

void secret_child_after_fork() noexcept {
  if (copied_read_end < 0) return;
  ::close(copied_read_end);
  ::close(copied_write_end);
  copied_read_end = copied_write_end = -1;
}

}  // namespace secbits::pool
