#include "pool/source/anonymous_source.hpp"

#include "os/memlock.hpp"
#include "os/pages.hpp"
#include "pool/stats.hpp"

namespace secbits::pool {

namespace {

class AnonymousSource final : public Source {
 public:
  const char* name() const noexcept override { return "anonymous"; }
  bool extends_in_place() const noexcept override { return true; }
  bool gives_back_part_of_a_range() const noexcept override { return true; }
  // Copy-on-write: a range in flight at the fork is whatever it was in the
  // parent, private to the child, holding nothing secret of the parent's.
  bool child_repairs_reservation() const noexcept override { return false; }
  bool child_only_relocks() const noexcept override { return true; }
  bool may_serve_unlocked(os::Status refusal) const noexcept override { return os::is_lock_budget_error(refusal.error); }

  void relock(void* pages, std::size_t bytes, const char* because) noexcept override {
    // Whoever unlocked the pool (fork, the program's munlockall) cannot be
    // failed for it, whatever the lock policy: say so, once.
    if (const os::Status status = os::lock_on_fault(pages, bytes); !status.ok()) {
      add(g_counters.lock_failures, 1);
      os::warn_unlocked_once(status, bytes, because);
    }
  }

  // A child shares its parent's pages copy-on-write; only the locks are lost.
  Renewal renew_in_child(std::byte* pages, std::size_t bytes, bool locked) noexcept override {
    if (locked) relock(pages, bytes, "in a forked child, which fork() cannot fail for");
    return Renewal::Kept;
  }

 protected:
  os::Status commit_locked(std::byte* pages, std::size_t bytes) noexcept override {
    if (const os::Status status = commit_unlocked(pages, bytes); !status.ok()) return status;
    // Locked as each page is first touched: the kernel charges the whole
    // range to RLIMIT_MEMLOCK now (a refusal is seen here), but pages a block
    // never touches are never made resident, and every mapping of the pool
    // carries the same lock flags as a forked child's relock, so they still
    // merge.
    const os::Status status = os::lock_on_fault(pages, bytes);
    if (!status.ok()) (void)os::protect(pages, bytes, Protection::NoAccess);
    return status;
  }

  os::Status commit_unlocked(std::byte* pages, std::size_t bytes) noexcept override {
    // DONTDUMP once more, though the pages normally have it from the
    // reservation: a decommit whose madvise failed would have left them
    // without it, and no page may be handed out dumpable.
    if (const os::Status status = os::exclude_from_dump(pages, bytes); !status.ok()) return status;
    return os::protect(pages, bytes, Protection::ReadWrite);
  }
};

constinit AnonymousSource source;

}  // namespace

Source& anonymous_source() noexcept { return source; }

}  // namespace secbits::pool
