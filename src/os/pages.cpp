#include "os/pages.hpp"

#include "os/injection.hpp"
#include "os/wipe.hpp"

#include <atomic>
#include <cstdint>
#include <cerrno>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace secbits::os {

namespace {

constinit std::atomic<testing::ReleaseObserver> release_observer{nullptr};

Status result(int rc, const char* operation) noexcept { return {rc == 0 ? 0 : errno, operation}; }

constexpr std::size_t kHugePage = std::size_t{2} << 20;

constexpr int kReservationFlags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;

/// Address space straight from the kernel: wherever it puts it, or, under
/// the test seam, a chosen distance past a 2 MiB boundary.
void* map_address_space(std::size_t bytes) noexcept {
  const std::size_t skew = detail::injected_misalignment();
  if (skew == 0) return ::mmap(nullptr, bytes, PROT_NONE, kReservationFlags, -1, 0);
  std::size_t padded;
  if (__builtin_add_overflow(bytes, 2 * kHugePage, &padded)) {
    errno = ENOMEM;
    return MAP_FAILED;
  }
  void* mapped = ::mmap(nullptr, padded, PROT_NONE, kReservationFlags, -1, 0);
  if (mapped == MAP_FAILED) return mapped;
  const auto low = reinterpret_cast<std::uintptr_t>(mapped);
  const std::uintptr_t start = ((low + kHugePage - 1) & ~(kHugePage - 1)) + skew % kHugePage;
  if (start > low) ::munmap(mapped, start - low);
  ::munmap(reinterpret_cast<void*>(start + bytes), low + padded - (start + bytes));
  return reinterpret_cast<void*>(start);
}

}  // namespace

int protection_flags(Protection protection) noexcept {
  switch (protection) {
    case Protection::NoAccess: return PROT_NONE;
    case Protection::ReadOnly: return PROT_READ;
    case Protection::ReadWrite: return PROT_READ | PROT_WRITE;
  }
  return PROT_NONE;
}

std::size_t page_size() noexcept {
  if (const std::size_t faked = detail::injected_page_size()) [[unlikely]] return faked;
  // getauxval reads the aux vector the kernel gave us: no syscall, no static
  // with a dynamic initialiser, safe before any constructor has run.
  static_assert(sizeof(unsigned long) == sizeof(std::size_t));
  return ::getauxval(AT_PAGESZ);
}

bool round_to_pages(std::size_t bytes, std::size_t* rounded) noexcept {
  const std::size_t page = page_size();
  std::size_t padded;
  if (__builtin_add_overflow(bytes, page - 1, &padded)) return false;
  *rounded = padded & ~(page - 1);
  return true;
}

Status map_guarded(std::size_t usable_bytes, std::byte** usable) noexcept {
  const std::size_t page = page_size();
  std::size_t total;
  if (__builtin_add_overflow(usable_bytes, 2 * page, &total)) return {ENOMEM, "mmap"};
  if (const int error = injected_error(Operation::MapGuarded)) return {error, "mmap"};
  void* base = ::mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return {errno, "mmap"};
  std::byte* inside = static_cast<std::byte*>(base) + page;
  if (::mprotect(inside, usable_bytes, PROT_READ | PROT_WRITE) != 0) {
    const int error = errno;
    ::munmap(base, total);
    return {error, "mprotect"};
  }
  *usable = inside;
  return {};
}

Status unmap_guarded(std::byte* usable, std::size_t usable_bytes) noexcept {
  if (auto observer = release_observer.load(std::memory_order_acquire)) observer(usable, usable_bytes);
  const std::size_t page = page_size();
  return result(::munmap(usable - page, usable_bytes + 2 * page), "munmap");
}

Status reserve(std::size_t bytes, std::size_t alignment, std::byte** base) noexcept {
  // Over-reserve by the alignment and trim both ends: where a large mapping
  // lands differs between kernels (6.7+ happen to 2 MiB-align it, 6.1 does
  // not), so an alignment the pool relies on is asked for, never assumed.
  std::size_t padded;
  if (__builtin_add_overflow(bytes, alignment - page_size(), &padded)) return {ENOMEM, "mmap"};
  if (const int error = injected_error(Operation::Reserve)) return {error, "mmap"};
  void* mapped = map_address_space(padded);
  if (mapped == MAP_FAILED) return {errno, "mmap"};
  const auto low = reinterpret_cast<std::uintptr_t>(mapped);
  const std::uintptr_t start = (low + alignment - 1) & ~(alignment - 1);
  if (start > low) ::munmap(mapped, start - low);
  if (low + padded > start + bytes) ::munmap(reinterpret_cast<void*>(start + bytes), low + padded - (start + bytes));
  *base = reinterpret_cast<std::byte*>(start);
  return {};
}

Status unmap(void* base, std::size_t bytes) noexcept { return result(::munmap(base, bytes), "munmap"); }

Status map_bookkeeping(std::size_t bytes, void** base) noexcept {
  if (const int error = injected_error(Operation::MapBookkeeping)) return {error, "mmap"};
  void* mapped = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, kReservationFlags, -1, 0);
  if (mapped == MAP_FAILED) return {errno, "mmap"};
  // Bookkeeping holds no secret, but it is mostly untouched zeros that a
  // core dump would write out in full (gcore of a process: ~290 MiB).
  if (const Status status = exclude_from_dump(mapped, bytes); !status.ok()) {
    ::munmap(mapped, bytes);
    return status;
  }
  *base = mapped;
  return {};
}

Status seal(void* pages, std::size_t bytes) noexcept {
  // Debian 12's headers predate mseal; its number is the same on every
  // architecture.
  constexpr long kMsealSyscall = 462;
  if (const int error = injected_error(Operation::Seal)) return {error, "mseal"};
  return result(static_cast<int>(::syscall(kMsealSyscall, pages, bytes, 0UL)), "mseal");
}

Status return_to_reservation(void* pages, std::size_t bytes) noexcept {
  void* mapped = injected_error(Operation::Return) != 0
                     ? MAP_FAILED
                     : ::mmap(pages, bytes, PROT_NONE, kReservationFlags | MAP_FIXED, -1, 0);
  if (mapped != MAP_FAILED) return exclude_from_dump(pages, bytes);
  // At vm.max_map_count the kernel refuses even a mapping that only replaces
  // pages. Drop their contents and locks in place instead: they stay a
  // mapping of their own, but hold nothing.
  (void)::syscall(SYS_munlock, pages, bytes);
  (void)::madvise(pages, bytes, MADV_DONTNEED);
  return protect(pages, bytes, Protection::NoAccess);
}

Status protect(void* pages, std::size_t bytes, Protection protection) noexcept {
  if (const int error = injected_error(Operation::Protect)) return {error, "mprotect"};
  return result(::mprotect(pages, bytes, protection_flags(protection)), "mprotect");
}

bool wipe_resident(void* pages, std::size_t bytes) noexcept {
  const std::size_t page = page_size();
  constexpr std::size_t kChunkPages = 256;
  unsigned char residency[kChunkPages];
  auto* const base = static_cast<std::byte*>(pages);
  bool all_resident = true;
  for (std::size_t offset = 0; offset < bytes; offset += kChunkPages * page) {
    const std::size_t chunk = bytes - offset < kChunkPages * page ? bytes - offset : kChunkPages * page;
    if (::mincore(base + offset, chunk, residency) != 0) {
      secure_wipe(base + offset, chunk);
      continue;
    }
    const std::size_t count = chunk / page;
    for (std::size_t first = 0; first < count;) {
      if ((residency[first] & 1) == 0) {
        all_resident = false;
        ++first;
        continue;
      }
      std::size_t end = first + 1;
      while (end < count && (residency[end] & 1) != 0) ++end;
      secure_wipe(base + offset + first * page, (end - first) * page);
      first = end;
    }
  }
  return all_resident;
}

Status exclude_from_dump(void* pages, std::size_t bytes) noexcept {
  if (const int error = injected_error(Operation::Advise)) return {error, "madvise(MADV_DONTDUMP)"};
  return result(::madvise(pages, bytes, MADV_DONTDUMP), "madvise(MADV_DONTDUMP)");
}

Status wipe_on_fork(void* pages, std::size_t bytes) noexcept {
  if (const int error = injected_error(Operation::Advise)) return {error, "madvise(MADV_WIPEONFORK)"};
  return result(::madvise(pages, bytes, MADV_WIPEONFORK), "madvise(MADV_WIPEONFORK)");
}

void testing::set_release_observer(ReleaseObserver observer) noexcept {
  release_observer.store(observer, std::memory_order_release);
}

}  // namespace secbits::os
