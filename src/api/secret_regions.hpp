#pragma once

#include <cstddef>

#include <secbits/protection.hpp>

#include "os/status.hpp"

// The live SecMem regions of secret memory, so that a forked child gets
// what an anonymous SecMem gives it through MADV_WIPEONFORK: zero-filled
// pages of its own at the same addresses, with the same protection. Secret
// memory is a shared file mapping; the regions are MADV_DONTFORK, so the
// child starts with a hole at each, and a pthread_atfork child handler
// (registered with the first region) maps fresh secret memory there. Where
// the child cannot get any, it gets PROT_NONE anonymous memory instead: it
// faults on the region rather than share, or leave a hole another mapping
// could take. Either way the child's SecMem objects can still be protected,
// wiped and unmapped.
//
// Every call below changes a region's pages and its record together under
// one lock, which the fork handlers hold across fork(), so that a child
// never finds the two disagreeing. mprotect serialises on the kernel's
// mmap lock anyway; the registry's lock adds a lookup to that.
namespace secbits::detail {

/// os::map_guarded_secret, recorded as NoAccess. ENOMEM if the registry is
/// full (see secret_regions.cpp), or the status of whatever failed.
os::Status map_secret_region(std::size_t bytes, std::byte** data) noexcept;

/// os::protect on a recorded region, and records `protection` for the next
/// fork.
os::Status protect_secret_region(std::byte* data, std::size_t bytes, Protection protection) noexcept;

/// Forgets a region its owner is about to unmap. Before the unmap, not
/// after: a fork in between then leaves a child with an unused hole, where
/// the other order would have the child map secret memory over whatever
/// another thread had meanwhile mapped in the freed range.
void forget_secret_region(std::byte* data) noexcept;

}  // namespace secbits::detail
