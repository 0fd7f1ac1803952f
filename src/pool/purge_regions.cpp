#include "pool/purge_regions.hpp"

#include <atomic>
#include <cstdint>

#include "os/pages.hpp"
#include "pool/layout.hpp"
#include "pool/sealing.hpp"

namespace secbits::pool {

namespace {

// A region's record: its address (0 when the record is unused) and its size
// in pages with its protection in the low two bits (0 while the record is
// being filled in or emptied: a purge skips it then).
struct Record {
  std::atomic<std::uintptr_t> data{0};
  std::atomic<std::uint64_t> pages_and_protection{0};
};

// Records come in page-sized chunks, mapped as needed and never unmapped, so
// that a purge may follow the chain at any moment.
struct Chunk {
  std::atomic<Chunk*> next{nullptr};
  Record records[(kPageSize - sizeof(std::atomic<Chunk*>)) / sizeof(Record)];
};
static_assert(sizeof(Chunk) <= kPageSize);

constinit std::atomic<Chunk*> first_chunk{nullptr};

constexpr std::uint64_t encode(std::size_t bytes, Protection protection) noexcept {
  return (static_cast<std::uint64_t>(bytes / kPageSize) << 2) | static_cast<std::uint64_t>(protection);
}

/// Calls `visit` on every record until it returns true; true if one did.
template <typename Visit>
bool for_each_record(Visit visit) noexcept {
  for (Chunk* chunk = first_chunk.load(std::memory_order_acquire); chunk != nullptr;
       chunk = chunk->next.load(std::memory_order_acquire)) {
    for (Record& record : chunk->records) {
      if (visit(record)) return true;
    }
  }
  return false;
}

Record* find(void* data) noexcept {
  Record* found = nullptr;
  const auto address = reinterpret_cast<std::uintptr_t>(data);
  for_each_record([&](Record& record) {
    if (record.data.load(std::memory_order_acquire) != address) return false;
    found = &record;
    return true;
  });
  return found;
}

/// A new chunk at the head of the chain; false if none could be mapped.
bool add_chunk() noexcept {
  void* pages = nullptr;
  if (!os::map_bookkeeping(kPageSize, &pages).ok()) return false;
  seal_for_life(pages, kPageSize);
  auto* chunk = ::new (pages) Chunk;
  Chunk* head = first_chunk.load(std::memory_order_relaxed);
  do {
    chunk->next.store(head, std::memory_order_relaxed);
  } while (!first_chunk.compare_exchange_weak(head, chunk, std::memory_order_release, std::memory_order_relaxed));
  return true;
}

}  // namespace

bool remember_region(void* data, std::size_t bytes, Protection protection) noexcept {
  const auto address = reinterpret_cast<std::uintptr_t>(data);
  for (;;) {
    Record* claimed = nullptr;
    for_each_record([&](Record& record) {
      std::uintptr_t unused = 0;
      if (!record.data.compare_exchange_strong(unused, address, std::memory_order_acq_rel)) return false;
      claimed = &record;
      return true;
    });
    if (claimed != nullptr) {
      claimed->pages_and_protection.store(encode(bytes, protection), std::memory_order_release);
      return true;
    }
    if (!add_chunk()) return false;
  }
}

void note_region_protection(void* data, Protection protection) noexcept {
  Record* record = find(data);
  if (record == nullptr) return;
  const std::uint64_t value = record->pages_and_protection.load(std::memory_order_relaxed);
  record->pages_and_protection.store((value & ~std::uint64_t{3}) | static_cast<std::uint64_t>(protection),
                                     std::memory_order_release);
}

void forget_region(void* data) noexcept {
  Record* record = find(data);
  if (record == nullptr) return;
  record->pages_and_protection.store(0, std::memory_order_release);
  record->data.store(0, std::memory_order_release);
}

void wipe_remembered_regions() noexcept {
  for_each_record([](Record& record) {
    const std::uintptr_t address = record.data.load(std::memory_order_acquire);
    const std::uint64_t value = record.pages_and_protection.load(std::memory_order_acquire);
    if (address == 0 || value == 0) return false;
    auto* data = reinterpret_cast<void*>(address);
    const std::size_t bytes = static_cast<std::size_t>(value >> 2) * kPageSize;
    // A region its owner is unmapping at this moment may be gone: then
    // mprotect fails and there is nothing left to wipe.
    if (!os::protect(data, bytes, Protection::ReadWrite).ok()) return false;
    os::wipe_resident(data, bytes);
    (void)os::protect(data, bytes, static_cast<Protection>(value & 3));
    return false;
  });
}

}  // namespace secbits::pool
