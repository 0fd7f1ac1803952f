#include "api/secret_regions.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <pthread.h>

#include "os/diagnostics.hpp"
#include "os/pages.hpp"
#include "os/proc.hpp"
#include "os/secret.hpp"
#include "pool/sealing.hpp"

namespace secbits::detail {

namespace {

struct Region {
  std::byte* data;
  std::size_t bytes;
  Protection protection;
};

// Every region is at least two mappings (its secret memory and a guard
// page), so half of vm.max_map_count bounds how many can exist. The cap
// keeps a raised limit from reserving more than 24 MiB of address space.
constexpr std::size_t kMaxRegions = std::size_t{1} << 20;

// The table is sorted by address, in bookkeeping memory the first region
// maps (MAP_NORESERVE: only the pages the entries reach cost anything).
// Nothing here allocates: the child handler runs where another thread may
// have held malloc's locks at fork().
constinit std::mutex mutex;
constinit Region* regions = nullptr;
constinit std::size_t capacity = 0;
constinit std::size_t count = 0;
constinit bool handlers_installed = false;

/// The first entry at or after `data`.
Region* position_of(std::byte* data) noexcept {
  return std::lower_bound(regions, regions + count, data, [](const Region& region, std::byte* wanted) {
    return std::less<std::byte*>()(region.data, wanted);
  });
}

Region* find(std::byte* data) noexcept {
  Region* const at = position_of(data);
  return at != regions + count && at->data == data ? at : nullptr;
}

void insert(const Region& region) noexcept {
  Region* const at = position_of(region.data);
  std::memmove(at + 1, at, static_cast<std::size_t>(regions + count - at) * sizeof(Region));
  *at = region;
  ++count;
}

void report_child_failure(const Region& region, os::Status status) noexcept {
  char address[19];
  char reason[128];
  const char* parts[] = {"secbits: a forked child got no secret memory for the SecMem at ",
                         os::format_hex(reinterpret_cast<unsigned long long>(region.data), address),
                         " (",
                         status.operation,
                         ": ",
                         ::strerror_r(status.error, reason, sizeof reason),
                         "); the child faults there instead"};
  os::write_stderr_line(parts, sizeof parts / sizeof parts[0]);
}

/// Fresh, zero-filled secret memory of the child's own where `region` was,
/// kept out of a further child as the parent's was.
os::Status renew_in_child(const Region& region) noexcept {
  os::Status status = os::map_secret(region.data, region.bytes, region.protection);
  if (status.ok()) status = os::exclude_from_fork(region.data, region.bytes);
  return status;
}

void prepare() noexcept { mutex.lock(); }

void parent() noexcept { mutex.unlock(); }

void child() noexcept {
  bool reported = false;
  for (std::size_t i = 0; i < count; ++i) {
    const os::Status status = renew_in_child(regions[i]);
    if (status.ok()) continue;
    if (!reported) report_child_failure(regions[i], status);
    reported = true;
    (void)os::return_to_reservation(regions[i].data, regions[i].bytes);
  }
  mutex.unlock();
}

/// The table and the fork handlers, made by the first region; caller holds
/// `mutex`. Registering under it keeps it to once, and cannot deadlock with
/// a fork() running the handlers: until registered, there are none of ours.
os::Status prepare_registry() noexcept {
  if (regions == nullptr) {
    const std::size_t entries = std::clamp<std::size_t>(os::max_map_count() / 2, 1, kMaxRegions);
    std::size_t bytes = 0;
    if (!os::round_to_pages(entries * sizeof(Region), &bytes)) return {ENOMEM, "mmap"};
    void* table = nullptr;
    if (const os::Status status = os::map_bookkeeping(bytes, &table); !status.ok()) return status;
    pool::seal_for_life(table, bytes);
    regions = static_cast<Region*>(table);
    capacity = bytes / sizeof(Region);
  }
  if (!handlers_installed) {
    if (const int error = ::pthread_atfork(prepare, parent, child); error != 0) return {error, "pthread_atfork"};
    handlers_installed = true;
  }
  return {};
}

}  // namespace

os::Status map_secret_region(std::size_t bytes, std::byte** data) noexcept {
  std::lock_guard lock(mutex);
  if (const os::Status status = prepare_registry(); !status.ok()) return status;
  if (count == capacity) return {ENOMEM, "registering a secret region"};
  std::byte* mapped = nullptr;
  if (const os::Status status = os::map_guarded_secret(bytes, &mapped); !status.ok()) return status;
  insert({mapped, bytes, Protection::NoAccess});
  *data = mapped;
  return {};
}

os::Status protect_secret_region(std::byte* data, std::size_t bytes, Protection protection) noexcept {
  std::lock_guard lock(mutex);
  Region* const region = find(data);
  if (region == nullptr) os::fatal("protecting a secret region that is not registered", data);
  if (const os::Status status = os::protect(data, bytes, protection); !status.ok()) return status;
  region->protection = protection;
  return {};
}

void forget_secret_region(std::byte* data) noexcept {
  std::lock_guard lock(mutex);
  Region* const region = find(data);
  if (region == nullptr) os::fatal("releasing a secret region that is not registered", data);
  std::memmove(region, region + 1, static_cast<std::size_t>(regions + count - (region + 1)) * sizeof(Region));
  --count;
}

}  // namespace secbits::detail
