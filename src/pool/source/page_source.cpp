#include "pool/source/page_source.hpp"

#include <atomic>
#include <cerrno>
#include <string.h>

#include "os/diagnostics.hpp"
#include "os/memlock.hpp"
#include "os/pages.hpp"
#include "os/secret.hpp"
#include "pool/layout.hpp"
#include "pool/options.hpp"
#include "pool/source/anonymous_source.hpp"
#include "pool/source/secret_source.hpp"
#include "pool/stats.hpp"

namespace secbits::pool {

namespace {

constinit std::atomic<Source*> chosen{nullptr};
constinit std::atomic<CacheReleaser> cache_releaser{nullptr};
constinit std::atomic<std::size_t> mapping_budget{0};

bool try_claim_mappings(std::int64_t count) noexcept {
  std::int64_t estimate = g_counters.mapping_estimate.load(std::memory_order_relaxed);
  const auto budget = static_cast<std::int64_t>(mapping_budget.load(std::memory_order_relaxed));
  do {
    if (estimate + count > budget) return false;
  } while (!g_counters.mapping_estimate.compare_exchange_weak(estimate, estimate + count, std::memory_order_relaxed));
  return true;
}

void report_source(const char* first, os::Status status, const char* last) noexcept {
  char reason[128];
  const char* parts[] = {first, status.operation, ": ", ::strerror_r(status.error, reason, sizeof reason), last};
  os::write_stderr_line(parts, sizeof parts / sizeof parts[0]);
}

}  // namespace

bool Source::commit(std::byte* pages, std::size_t bytes, bool* locked) noexcept {
  os::Status status = commit_locked(pages, bytes);
  if (!status.ok() && os::is_lock_budget_error(status.error) && release_cached_memory()) {
    status = commit_locked(pages, bytes);
  }
  if (status.ok()) {
    *locked = true;
    add(g_counters.bytes_locked, bytes);
  } else {
    add(g_counters.lock_failures, 1);
    if (g_lock_policy.load(std::memory_order_relaxed) != LockPolicy::Degrade || !may_serve_unlocked(status) ||
        !commit_unlocked(pages, bytes).ok()) {
      errno = ENOMEM;
      return false;
    }
    os::warn_unlocked_once(status, bytes);
    *locked = false;
    add(g_counters.bytes_unlocked, bytes);
  }
  add(g_counters.bytes_committed, bytes);
  return true;
}

void Source::decommit(std::byte* pages, std::size_t bytes, bool locked) noexcept {
  // The pages were wiped before they got here and their contents are gone
  // even if the last step (closing them) fails at the mapping limit: there
  // is nothing left to protect, so that is counted, not fatal. Replacing a
  // secret mapping drops its file's pages once no mapping of it is left.
  if (!os::return_to_reservation(pages, bytes).ok()) add(g_counters.flips_skipped, bytes / kPageSize);
  subtract(locked ? g_counters.bytes_locked : g_counters.bytes_unlocked, bytes);
  subtract(g_counters.bytes_committed, bytes);
}

bool Source::wipe(void* pages, std::size_t bytes) noexcept { return os::wipe_resident(pages, bytes); }

bool Source::protect(void* pages, std::size_t bytes, Protection protection) noexcept {
  if (!os::protect(pages, bytes, protection).ok()) return false;
  add(g_counters.protection_flips, 1);
  return true;
}

void repair_reservation(void* pages, std::size_t bytes) noexcept { (void)os::return_to_reservation(pages, bytes); }

void count_as_unlocked(std::size_t bytes) noexcept {
  subtract(g_counters.bytes_locked, bytes);
  add(g_counters.bytes_unlocked, bytes);
}

Source& page_source() noexcept {
  Source* source = chosen.load(std::memory_order_acquire);
  return source != nullptr ? *source : anonymous_source();
}

bool choose_page_source() noexcept {
  const PageSource asked = g_requested_source.load(std::memory_order_relaxed);
  if (asked == PageSource::Anonymous) {
    chosen.store(&anonymous_source(), std::memory_order_release);
    return true;
  }
  const os::Status status = os::probe_secret_memory();
  if (status.ok()) {
    chosen.store(&secret_source(), std::memory_order_release);
    return true;
  }
  if (asked == PageSource::Secret) {
    // Asked again by every allocation until the kernel agrees: said once.
    static constinit std::atomic<bool> reported{false};
    if (!reported.exchange(true, std::memory_order_relaxed)) {
      report_source("secbits: secret memory was asked for and the kernel refuses it (", status,
                    "): every secure allocation fails with ENOMEM");
    }
    return false;
  }
  report_source("secbits: the kernel gives no secret memory (", status,
                "): the pool uses anonymous memory, locked and undumpable but readable by root");
  chosen.store(&anonymous_source(), std::memory_order_release);
  return true;
}

os::Status reserve_address_space(std::size_t bytes, std::size_t alignment, std::byte** base) noexcept {
  if (const os::Status status = os::reserve(bytes, alignment, base); !status.ok()) return status;
  if (const os::Status status = os::exclude_from_dump(*base, bytes); !status.ok()) {
    (void)os::unmap(*base, bytes);
    return status;
  }
  return {};
}

os::Status map_bookkeeping(std::size_t bytes, void** base) noexcept { return os::map_bookkeeping(bytes, base); }

void unmap_address_space(void* base, std::size_t bytes) noexcept { (void)os::unmap(base, bytes); }

void set_cache_releaser(CacheReleaser releaser) noexcept { cache_releaser.store(releaser, std::memory_order_release); }

bool release_cached_memory() noexcept {
  const CacheReleaser releaser = cache_releaser.load(std::memory_order_acquire);
  return releaser != nullptr && releaser();
}

void set_mapping_budget(std::size_t budget, std::int64_t already_used) noexcept {
  mapping_budget.store(budget, std::memory_order_relaxed);
  g_counters.mapping_estimate.store(already_used, std::memory_order_relaxed);
}

bool claim_mappings(std::int64_t count) noexcept {
  if (try_claim_mappings(count) || (release_cached_memory() && try_claim_mappings(count))) return true;
  errno = ENOMEM;
  return false;
}

void release_mappings(std::int64_t count) noexcept { adjust_mapping_estimate(-count); }

bool within_mapping_budget(std::int64_t more) noexcept {
  return g_counters.mapping_estimate.load(std::memory_order_relaxed) + more <=
         static_cast<std::int64_t>(mapping_budget.load(std::memory_order_relaxed));
}

void adjust_mapping_estimate(std::int64_t delta) noexcept {
  g_counters.mapping_estimate.fetch_add(delta, std::memory_order_relaxed);
}

}  // namespace secbits::pool
