#pragma once

#include <cstddef>

#include <secbits/protection.hpp>

#include "os/status.hpp"

// Secret memory (memfd_secret, Linux 5.14+): pages the kernel removes from
// its direct map and maps only in this process's page tables, so that no
// other process, root included, reads them through /proc/PID/mem, ptrace or
// process_vm_readv. The kernel locks them itself (charged to RLIMIT_MEMLOCK
// when they are mapped) and leaves them out of core dumps.
namespace secbits::os {

/// Whether the kernel gives secret memory at all: ENOSYS on kernels without
/// it or built without it, ENOSYS or EPERM where it is disabled
/// (secretmem.enable=0), EMFILE and the like when it is only refused now.
Status probe_secret_memory() noexcept;

/// Maps `bytes` (whole pages) of fresh, zero-filled secret memory exactly at
/// `at`, replacing whatever was mapped there (MAP_FIXED), with `protection`.
/// Each call is a file of its own: its pages go back to the kernel once the
/// whole mapping is unmapped or replaced (secret memory cannot punch holes).
/// The file descriptor is closed before returning.
Status map_secret(void* at, std::size_t bytes, Protection protection) noexcept;

/// Maps fresh secret memory wherever the kernel likes; for copying into
/// before move_mapping() puts it in place.
Status map_secret_anywhere(std::size_t bytes, std::byte** mapped) noexcept;

/// MADV_DONTFORK: a forked child gets no mapping at all here (secret memory
/// is shared: without it parent and child would write into the same pages).
Status exclude_from_fork(void* pages, std::size_t bytes) noexcept;

/// mremap(MREMAP_FIXED): moves the mapping at `from` over `to`, which it
/// replaces.
Status move_mapping(void* from, std::size_t bytes, void* to) noexcept;

/// map_guarded's layout with secret memory in the middle: `usable_bytes`
/// (whole pages) of fresh secret memory at Protection::NoAccess and
/// MADV_DONTFORK, between two PROT_NONE anonymous guard pages; unmapped with
/// unmap_guarded. The guards stay anonymous: a file mapping does not grow
/// into its neighbours, and a forked child keeps them (PROT_NONE) around the
/// hole MADV_DONTFORK leaves. On failure nothing is left mapped.
Status map_guarded_secret(std::size_t usable_bytes, std::byte** usable) noexcept;

/// Whether a failed map_secret or map_guarded_secret was the kernel refusing
/// to charge the pages to RLIMIT_MEMLOCK (the mmap step: EAGAIN over the
/// limit, EPERM with none, ENOMEM), which the lock policy may accept, rather
/// than the kernel refusing secret memory itself (memfd_secret: ENOSYS...).
bool is_secret_budget_error(Status status) noexcept;

/// mincore: one byte per page, bit 0 set when the page is resident (for a
/// shared mapping: present in the file).
Status resident_pages(void* pages, std::size_t bytes, unsigned char* residency) noexcept;

}  // namespace secbits::os
