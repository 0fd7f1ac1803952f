#pragma once

#include <secbits/protection.hpp>

// The interposer's options, read once from the environment.
namespace secbits::preload {

struct Options {
  LockPolicy lock = LockPolicy::Degrade;  // most programs hold more than RLIMIT_MEMLOCK
  PageProtection protect = PageProtection::Cached;
  bool stats = false;
  bool verbose = false;
};

extern constinit Options g_options;

/// Reads SECBITS_* from `environment` (may be null) without allocating, and
/// reports each bad value once on stderr with the default used instead.
/// Ignores the environment of AT_SECURE (setuid, setgid, capability) processes,
/// whose environment belongs to whoever started them.
void read_options(char** environment) noexcept;

}  // namespace secbits::preload
