#include "support/probe.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

namespace secbits::test {

namespace {

// Raw syscalls: the sanitizer runtimes intercept the libc wrappers of write()
// and would check (or flag) the source range themselves.
bool read_with_process_vm_readv(const void* address, std::size_t size, std::byte* out, bool* unsupported) {
  iovec local{out, size};
  iovec remote{const_cast<void*>(address), size};
  const long n = ::syscall(SYS_process_vm_readv, static_cast<long>(::getpid()), &local, 1UL, &remote, 1UL, 0UL);
  if (n < 0 && (errno == ENOSYS || errno == EPERM)) *unsupported = true;
  return n == static_cast<long>(size);
}

// Fallback: the kernel copies the source of a write() itself and answers
// EFAULT for an inaccessible page. The caller keeps each chunk within a page
// and far below the pipe's capacity, so the write never blocks.
bool read_with_pipe(const void* address, std::size_t size, std::byte* out) {
  int fds[2];
  if (::pipe(fds) != 0) std::abort();
  const long written = ::syscall(SYS_write, fds[1], address, size);
  bool ok = written == static_cast<long>(size);
  if (ok) ok = ::syscall(SYS_read, fds[0], out, size) == static_cast<long>(size);
  ::close(fds[0]);
  ::close(fds[1]);
  return ok;
}

bool read_chunk(const void* address, std::size_t size, std::byte* out) {
  static std::atomic<bool> use_pipe{false};
  if (!use_pipe.load(std::memory_order_relaxed)) {
    bool unsupported = false;
    if (read_with_process_vm_readv(address, size, out, &unsupported)) return true;
    if (!unsupported) return false;
    use_pipe.store(true, std::memory_order_relaxed);
  }
  return read_with_pipe(address, size, out);
}

// Calls `visit(chunk_address, chunk_size)` for each piece of the range that
// lies within one page.
template <class Visit>
void for_each_page_chunk(const void* address, std::size_t size, Visit visit) {
  const std::size_t page = page_size();
  auto at = reinterpret_cast<std::uintptr_t>(address);
  const std::uintptr_t end = at + size;
  while (at < end) {
    const std::uintptr_t page_end = (at / page + 1) * page;
    const std::size_t chunk = static_cast<std::size_t>(std::min(end, page_end) - at);
    visit(reinterpret_cast<const void*>(at), chunk);
    at += chunk;
  }
}

/// observe_memory with `read` (read_chunk or read_with_pipe) for each chunk.
template <class Read>
MemoryState observe_with(const void* address, std::size_t size, Read read) {
  MemoryState state;
  std::vector<std::byte> buffer(page_size());
  for_each_page_chunk(address, size, [&](const void* chunk, std::size_t n) {
    if (!read(chunk, n, buffer.data())) {
      state.unreadable_bytes += n;
      return;
    }
    state.readable_bytes += n;
    state.nonzero_bytes +=
        static_cast<std::size_t>(std::count_if(buffer.data(), buffer.data() + n, [](std::byte b) { return b != std::byte{0}; }));
  });
  return state;
}

}  // namespace

std::size_t page_size() {
  static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

std::optional<std::vector<std::byte>> read_memory(const void* address, std::size_t size) {
  std::vector<std::byte> bytes(size);
  std::size_t offset = 0;
  bool ok = true;
  for_each_page_chunk(address, size, [&](const void* chunk, std::size_t n) {
    if (ok) ok = read_chunk(chunk, n, bytes.data() + offset);
    offset += n;
  });
  if (!ok) return std::nullopt;
  return bytes;
}

bool is_readable(const void* address) {
  std::byte byte;
  return read_chunk(address, 1, &byte);
}

MemoryState observe_memory(const void* address, std::size_t size) { return observe_with(address, size, read_chunk); }

std::optional<std::vector<std::byte>> read_memory_through_pipe(const void* address, std::size_t size) {
  std::vector<std::byte> bytes(size);
  std::size_t offset = 0;
  bool ok = true;
  for_each_page_chunk(address, size, [&](const void* chunk, std::size_t n) {
    if (ok) ok = read_with_pipe(chunk, n, bytes.data() + offset);
    offset += n;
  });
  if (!ok) return std::nullopt;
  return bytes;
}

MemoryState observe_memory_through_pipe(const void* address, std::size_t size) {
  return observe_with(address, size, read_with_pipe);
}

std::size_t resident_bytes(const void* address, std::size_t size) {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(address) / page * page;
  const std::size_t pages = (reinterpret_cast<std::uintptr_t>(address) + size - first + page - 1) / page;
  std::vector<unsigned char> residency(pages);
  if (::mincore(reinterpret_cast<void*>(first), pages * page, residency.data()) != 0) return SIZE_MAX;
  return static_cast<std::size_t>(std::count_if(residency.begin(), residency.end(), [](unsigned char r) { return (r & 1) != 0; })) * page;
}

}  // namespace secbits::test
