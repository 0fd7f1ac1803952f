#include "pool/region.hpp"

#include <bit>
#include <cerrno>
#include <mutex>
#include <new>
#include <string.h>

#include "os/diagnostics.hpp"
#include "os/memlock.hpp"
#include "os/pages.hpp"
#include "os/proc.hpp"
#include "os/secret.hpp"
#include "os/wipe.hpp"
#include "pool/death_purge.hpp"
#include "pool/hardening.hpp"
#include "pool/large.hpp"
#include "pool/options.hpp"
#include "pool/sealing.hpp"
#include "pool/source/page_source.hpp"
#include "pool/source/secret_source.hpp"
#include "pool/stats.hpp"

namespace secbits::pool {

constinit Region g_region;

namespace {

/// Empty slabs kept committed for any heap to take without a syscall; more
/// than this are decommitted (2 to 4 MiB). A heap takes a slab of the unit
/// it needs with at least the units it needs; the others wait for a heap
/// that needs theirs, or for the pressure that gives cached memory back.
constexpr std::size_t kEmptyCacheLimit = 16;

constinit std::mutex init_mutex;
constinit std::atomic<bool> initialised{false};

// Guards the slab cache, the decommitted list and the next never-used slot.
constinit std::mutex slab_mutex;
constinit Slab* empty_cache = nullptr;
constinit std::size_t empty_count = 0;
constinit Slab* decommitted = nullptr;
constinit std::size_t next_slot = 0;

// Odd while a munlockall of the program's unlocks and relocks the pool;
// raised on entering and on leaving. See keep_locked().
constinit std::atomic<std::uint64_t> unlock_epoch{0};
constexpr const char* kAfterMunlockall = "after the program's munlockall";

/// True the first time only: why the pool cannot exist is said once (every
/// secure allocation of the process will fail, which the program may only
/// report as ENOMEM). Asked before anything is formatted.
bool first_report_of_no_pool() noexcept {
  static constinit std::atomic<bool> reported{false};
  return !reported.exchange(true, std::memory_order_relaxed);
}

void report_unsupported_page_size() noexcept {
  if (!first_report_of_no_pool()) return;
  char size_text[21];
  const char* parts[] = {"secbits: the page size is ", os::format_decimal(os::page_size(), size_text),
                         " bytes; secbits supports 4096-byte pages only: every secure allocation fails with ENOMEM"};
  os::write_stderr_line(parts, sizeof parts / sizeof parts[0]);
}

void report_no_address_space(os::Status status) noexcept {
  if (!first_report_of_no_pool()) return;
  char size_text[21];
  char limit_text[21];
  char reason[128];
  const std::size_t limit = os::address_space_limit();
  const char* parts[] = {"secbits: cannot reserve address space for the secure pool (",
                         status.operation,
                         " of ",
                         os::format_decimal(kMinimumReservation, size_text),
                         " bytes failed: ",
                         ::strerror_r(status.error, reason, sizeof reason),
                         "; RLIMIT_AS is ",
                         limit == SIZE_MAX ? "unlimited" : os::format_decimal(limit, limit_text),
                         " bytes): every secure allocation fails with ENOMEM"};
  os::write_stderr_line(parts, sizeof parts / sizeof parts[0]);
}

/// Decommits an empty slab and files it with the decommitted ones.
void decommit_slab(Slab* slab) noexcept {
  // Every block was wiped when it was freed: nothing to wipe here.
  adjust_mapping_estimate(-static_cast<std::int64_t>(mapping_runs(*slab, slab->open_pages)) - 1);
  {
    // Not committed any more before its pages go: a relock_pool must not
    // lock pages that are back in the reservation.
    std::lock_guard lock(slab_mutex);
    slab->committed = false;
  }
  page_source().decommit(slab->base, slab->committed_bytes(), slab->locked);
  slab->open_pages = 0;
  subtract(g_counters.slabs, 1);
  std::lock_guard lock(slab_mutex);
  slab->next = decommitted;
  decommitted = slab;
}

/// Decommits the cache of empty slabs. True if it held any.
bool release_empty_slabs() noexcept {
  Slab* slabs = nullptr;
  {
    std::lock_guard lock(slab_mutex);
    slabs = empty_cache;
    empty_cache = nullptr;
    empty_count = 0;
  }
  for (Slab* slab = slabs; slab != nullptr;) {
    Slab* next = slab->next;
    decommit_slab(slab);
    slab = next;
  }
  return slabs != nullptr;
}

/// Memory kept committed only to be reused soon, given back when a lock or
/// a mapping is refused: it holds lock budget and mappings a live block needs.
/// The calling thread's empty slabs waiting in its batch first, so that they
/// are in the empty-slab cache when it goes.
bool release_region_caches() noexcept {
  give_back_waiting_slabs();
  const bool spans = large_release_cache();
  return release_empty_slabs() || spans;
}

/// The bookkeeping of the next never-used slot; slab_mutex held, a slot left.
Slab* new_slot() noexcept {
  const std::size_t slot = next_slot++;
  Slab* slab = ::new (&g_region.slabs[slot]) Slab;
  slab->base = reinterpret_cast<std::byte*>(g_region.base.load(std::memory_order_relaxed)) + slot * kSlotSize +
               kPageSize;
  return slab;
}

/// Each maximal run of set bits of `mask`, lowest first.
template <class OnRun>
void for_each_run(std::uint32_t mask, OnRun on_run) noexcept {
  while (mask != 0) {
    const int start = std::countr_zero(mask);
    const int length = std::countr_zero(~(mask >> start));
    const std::uint32_t run = ((std::uint32_t{1} << length) - 1) << start;
    on_run(run, static_cast<std::size_t>(start), static_cast<std::size_t>(length));
    mask &= ~run;
  }
}

bool reserve_range() noexcept {
  std::byte* base = nullptr;
  std::size_t size = kPreferredReservation;
  for (os::Status status; !(status = reserve_address_space(size, kReservationAlignment, &base)).ok();) {
    size /= 2;
    if (size < kMinimumReservation) {
      report_no_address_space(status);
      return false;
    }
  }
  const std::size_t small = size / 4;
  const std::size_t slot_count = small / kSlotSize;
  const std::size_t bookkeeping_bytes = slot_count * sizeof(Slab);
  void* bookkeeping = nullptr;
  if (!map_bookkeeping(bookkeeping_bytes, &bookkeeping).ok()) {
    unmap_address_space(base, size);
    return false;
  }
  if (!large_initialise(base + small, size - small)) {
    unmap_address_space(bookkeeping, bookkeeping_bytes);
    unmap_address_space(base, size);
    return false;
  }

  seal_for_life(bookkeeping, bookkeeping_bytes);
  g_region.slabs = static_cast<Slab*>(bookkeeping);
  g_region.slot_count = slot_count;
  // Leave the other half of vm.max_map_count to the program and its
  // libraries. Used already: the reservation, the two bookkeeping tables, the
  // published marker and the canary secret's page.
  set_mapping_budget(os::max_map_count() / 2, 5);
  set_cache_releaser(release_region_caches);
  g_region.small_bytes.store(small, std::memory_order_relaxed);
  g_region.total_bytes.store(size, std::memory_order_relaxed);
  g_region.base.store(reinterpret_cast<std::uintptr_t>(base), std::memory_order_release);
  os::publish_range("secbits-pool", base, base + size);
  return true;
}

}  // namespace

bool ensure_initialised() noexcept {
  if (initialised.load(std::memory_order_acquire)) return true;
  std::lock_guard lock(init_mutex);
  if (initialised.load(std::memory_order_relaxed)) return true;
  if (os::page_size() != kPageSize) {
    report_unsupported_page_size();
    errno = ENOMEM;
    return false;
  }
  if (!choose_page_source() || !reserve_range()) {
    errno = ENOMEM;
    return false;
  }
  start_hardening();
  initialised.store(true, std::memory_order_release);
  start_death_purge();
  return true;
}

int request_page_source(PageSource source) noexcept {
  if (source != PageSource::Anonymous && source != PageSource::Secret && source != PageSource::Auto) return EINVAL;
  std::lock_guard lock(init_mutex);
  if (initialised.load(std::memory_order_relaxed)) return EBUSY;
  if (source == PageSource::Secret) {
    if (const os::Status status = os::probe_secret_memory(); !status.ok()) return status.error;
  }
  g_requested_source.store(source, std::memory_order_relaxed);
  return 0;
}

int request_hardening(unsigned level) noexcept {
  if (level > kMaxHardening) return EINVAL;
  std::lock_guard lock(init_mutex);
  if (initialised.load(std::memory_order_relaxed)) {
    return level == g_hardening.load(std::memory_order_relaxed) ? 0 : EBUSY;
  }
  g_hardening.store(level, std::memory_order_relaxed);
  return 0;
}

PageSource current_page_source() noexcept {
  if (!initialised.load(std::memory_order_acquire)) return g_requested_source.load(std::memory_order_relaxed);
  return &page_source() == &secret_source() ? PageSource::Secret : PageSource::Anonymous;
}

Slab* take_unbacked_slab() noexcept {
  std::lock_guard lock(slab_mutex);
  return next_slot < g_region.slot_count ? new_slot() : nullptr;
}

Slab* take_slab(SlabShape shape) noexcept {
  Slab* slab = nullptr;
  {
    std::lock_guard lock(slab_mutex);
    for (Slab** link = &empty_cache; *link != nullptr; link = &(*link)->next) {
      Slab* cached = *link;
      if (cached->unit_shift != shape.unit_shift || cached->units < shape.units) continue;
      *link = cached->next;
      --empty_count;
      cached->next = nullptr;
      return cached;
    }
    if (decommitted != nullptr) {
      slab = decommitted;
      decommitted = slab->next;
      slab->next = nullptr;
    } else if (next_slot < g_region.slot_count) {
      slab = new_slot();
    } else {
      errno = ENOMEM;
      return nullptr;
    }
    slab->unit_shift = static_cast<std::uint8_t>(shape.unit_shift);
    slab->units = static_cast<std::uint8_t>(shape.units);
  }
  bool locked = false;
  const std::uint64_t epoch = lock_epoch();
  // The slab, and the guard it splits off the reservation.
  const bool claimed = claim_mappings(2);
  if (!claimed || !page_source().commit(slab->base, slab->committed_bytes(), &locked)) {
    if (claimed) release_mappings(2);
    std::lock_guard lock(slab_mutex);
    slab->next = decommitted;
    decommitted = slab;
    return nullptr;
  }
  {
    std::lock_guard lock(slab_mutex);
    slab->committed = true;
    slab->locked = locked;
  }
  if (locked) keep_locked(epoch, slab->base, slab->committed_bytes());
  slab->open_pages = slab->all_units();
  add(g_counters.slabs, 1);
  return slab;
}

void give_back_slab(Slab* slab) noexcept {
  {
    std::lock_guard lock(slab_mutex);
    if (empty_count < kEmptyCacheLimit) {
      slab->next = empty_cache;
      empty_cache = slab;
      ++empty_count;
      return;
    }
  }
  decommit_slab(slab);
}

bool open_pages(Slab& slab, std::uint32_t mask) noexcept {
  const std::int64_t grows = static_cast<std::int64_t>(mapping_runs(slab, slab.open_pages | mask)) -
                             static_cast<std::int64_t>(mapping_runs(slab, slab.open_pages));
  // At the budget the whole slab opens instead: one run of open pages takes
  // the fewest mappings. Its extra pages hold no block, so nothing but zeros.
  if (grows > 0 && !within_mapping_budget(grows)) mask = slab.all_units();
  bool ok = true;
  for_each_run(mask & ~slab.open_pages, [&](std::uint32_t run, std::size_t first, std::size_t count) {
    if (!ok) return;
    if (!page_source().protect(slab.base + (first << slab.unit_shift), count << slab.unit_shift,
                               Protection::ReadWrite)) {
      ok = false;
      return;
    }
    const std::uint32_t before = mapping_runs(slab, slab.open_pages);
    slab.open_pages |= run;
    adjust_mapping_estimate(static_cast<std::int64_t>(mapping_runs(slab, slab.open_pages)) - before);
  });
  return ok;
}

void close_pages(Slab& slab, std::uint32_t mask) noexcept {
  const std::uint32_t closing = mask & slab.open_pages;
  // Units already closed between two to close join their call: one mprotect
  // (and one TLB flush) where scattered frees would otherwise make several.
  for_each_run(closing | (slab.all_units() & ~slab.open_pages), [&](std::uint32_t span, std::size_t, std::size_t) {
    if ((span & closing) == 0) return;
    const std::size_t first = static_cast<std::size_t>(std::countr_zero(span & closing));
    const std::size_t count = 32 - static_cast<std::size_t>(std::countl_zero(span & closing)) - first;
    const std::uint32_t run = span & closing;
    const std::uint32_t before = mapping_runs(slab, slab.open_pages);
    const std::uint32_t after = mapping_runs(slab, slab.open_pages & ~run);
    const std::int64_t grows = static_cast<std::int64_t>(after) - before;
    if (grows > 0 && !within_mapping_budget(grows)) {
      add(g_counters.flips_skipped, count_bits(run));
      return;
    }
    // ENOMEM here means the kernel's own mapping limit: the pages stay open,
    // zeroed, which is what the budget above exists to avoid.
    if (!page_source().protect(slab.base + (first << slab.unit_shift), count << slab.unit_shift,
                               Protection::NoAccess)) {
      add(g_counters.flips_skipped, count_bits(run));
      return;
    }
    slab.open_pages &= ~run;
    adjust_mapping_estimate(grows);
  });
}

std::uint64_t lock_epoch() noexcept { return unlock_epoch.load(std::memory_order_seq_cst); }

void keep_locked(std::uint64_t epoch_before, void* pages, std::size_t bytes) noexcept {
  const std::uint64_t now = unlock_epoch.load(std::memory_order_seq_cst);
  if (now != epoch_before || (epoch_before & 1) != 0) page_source().relock(pages, bytes, kAfterMunlockall);
}

os::Status unlock_all_but_the_pool() noexcept {
  unlock_epoch.fetch_add(1, std::memory_order_seq_cst);
  const os::Status status = os::unlock_all();
  relock_pool(kAfterMunlockall);
  unlock_epoch.fetch_add(1, std::memory_order_seq_cst);
  return status;
}

void relock_pool(const char* because) noexcept {
  if (!initialised.load(std::memory_order_acquire)) return;
  std::lock_guard lock(slab_mutex);
  for (std::size_t slot = 0; slot < next_slot; ++slot) {
    const Slab& slab = g_region.slabs[slot];
    if (slab.committed && slab.locked) page_source().relock(slab.base, slab.committed_bytes(), because);
  }
  large_relock(because);
}

void renew_pool_in_child() noexcept {
  if (!initialised.load(std::memory_order_acquire)) return;
  Source& source = page_source();
  for (std::size_t slot = 0; slot < next_slot; ++slot) {
    Slab& slab = g_region.slabs[slot];
    if (!slab.committed) {
      // Perhaps being committed or decommitted by a thread of the parent.
      if (source.child_repairs_reservation()) repair_reservation(slab.base, kSlotSize - kPageSize);
      continue;
    }
    const Source::Renewal renewal = source.renew_in_child(slab.base, slab.committed_bytes(), slab.locked);
    if (renewal == Source::Renewal::Failed) {
      slab.open_pages = 0;
      continue;
    }
    if (renewal == Source::Renewal::Kept) continue;
    if (renewal == Source::Renewal::ReadWriteUnlocked) {
      slab.locked = false;
      count_as_unlocked(slab.committed_bytes());
    }
    // The fresh mapping is one run; closing the same runs as before splits
    // it back into the mappings the estimate already counts.
    for_each_run(~slab.open_pages & slab.all_units(), [&](std::uint32_t, std::size_t first, std::size_t count) {
      if (!source.protect(slab.base + (first << slab.unit_shift), count << slab.unit_shift, Protection::NoAccess)) {
        add(g_counters.flips_skipped, count);
      }
    });
  }
  large_renew_in_child();
}

void wipe_open_slab_pages() noexcept {
  if (!initialised.load(std::memory_order_acquire)) return;
  // Read without slab_mutex, which the interrupted thread may hold. A closed
  // page holds no live block and was wiped before it closed; an open one is
  // read-write, so a plain memset reaches it unless its owner closes it at
  // this very moment (the purge then dies on the fault, as the process was
  // about to).
  const std::size_t slots = std::atomic_ref<std::size_t>(next_slot).load(std::memory_order_relaxed);
  for (std::size_t slot = 0; slot < slots; ++slot) {
    Slab& slab = g_region.slabs[slot];
    if (!std::atomic_ref<bool>(slab.committed).load(std::memory_order_acquire)) continue;
    for_each_run(std::atomic_ref<std::uint32_t>(slab.open_pages).load(std::memory_order_relaxed),
                 [&](std::uint32_t, std::size_t first, std::size_t count) {
                   os::secure_wipe(slab.base + (first << slab.unit_shift), count << slab.unit_shift);
                 });
  }
}

void region_prepare_fork() noexcept { slab_mutex.lock(); }
void region_parent_after_fork() noexcept { slab_mutex.unlock(); }
void region_child_after_fork() noexcept { ::new (&slab_mutex) std::mutex; }

}  // namespace secbits::pool
