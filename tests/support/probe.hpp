#pragma once

#include <cstddef>
#include <optional>
#include <vector>

namespace secbits::test {

/// The system page size.
std::size_t page_size();

/// Reads `size` bytes at `address` of this very process through the kernel
/// (process_vm_readv on getpid(), or write() into a pipe where that syscall is
/// not allowed). A page that is PROT_NONE or unmapped makes the kernel answer
/// EFAULT instead of delivering SIGSEGV, so a test can look at memory it has
/// just freed without crashing and without a forked child. No sanitizer sees
/// the read either: the bytes are copied by the kernel.
/// nullopt if any byte of the range could not be read.
std::optional<std::vector<std::byte>> read_memory(const void* address, std::size_t size);

/// True if the byte at `address` (hence its whole page) can be read.
bool is_readable(const void* address);

/// What a range of memory looks like from the outside, page by page.
struct MemoryState {
  std::size_t readable_bytes = 0;    // on pages the kernel could read
  std::size_t unreadable_bytes = 0;  // on pages that are PROT_NONE or unmapped
  std::size_t nonzero_bytes = 0;     // of the readable ones, those that are not zero

  /// The wipe guarantee: nothing of the old content can be read back.
  bool wiped_or_inaccessible() const { return nonzero_bytes == 0; }
  bool inaccessible() const { return readable_bytes == 0; }
};

/// Reads [address, address + size) page by page with read_memory().
MemoryState observe_memory(const void* address, std::size_t size);

/// read_memory() and observe_memory() through write() into a pipe only.
/// Secret memory (memfd_secret) needs it: the kernel refuses
/// process_vm_readv and /proc/self/mem there even to the process that maps
/// it (EFAULT, EIO), so read_memory() would call every such page unreadable
/// whatever it holds, and a wipe check would pass without looking. write()
/// copies through this process's own page tables and reads it; a page that
/// is PROT_NONE or unmapped is still EFAULT.
std::optional<std::vector<std::byte>> read_memory_through_pipe(const void* address, std::size_t size);
MemoryState observe_memory_through_pipe(const void* address, std::size_t size);

/// Bytes of the whole pages of [address, address + size) that are resident
/// (mincore): what the kernel has faulted in, whatever their protection.
std::size_t resident_bytes(const void* address, std::size_t size);

}  // namespace secbits::test
