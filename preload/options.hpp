#pragma once

#include <secbits/protection.hpp>

#include "pool/hardening.hpp"

// The interposer's options, read once from the environment.
namespace secbits::preload {

/// all: every heap block is secure; tagged: only blocks asked for through
/// the secbits API or inside a secbits::secure_scope, jemalloc for the rest.
enum class Mode { All, Tagged };

/// The pool's statistics at exit, on stderr: none, a line of text for
/// people, or one JSON object for log pipelines.
enum class StatsFormat { Off, Text, Json };

struct Options {
  Mode mode = Mode::All;
  // Whole-process mode degrades by default (most programs hold more than
  // RLIMIT_MEMLOCK); tagged mode keeps the budget for its few secrets and is
  // strict by default, as the library is.
  LockPolicy lock = LockPolicy::Degrade;
  PageProtection protect = PageProtection::Cached;
  PageSource source = PageSource::Anonymous;
  unsigned hardening = pool::kDefaultHardening;
  PurgeSignals purge = PurgeSignals::Fatal;
  StatsFormat stats = StatsFormat::Off;
  bool verbose = false;
};

extern constinit Options g_options;

/// Reads SECBITS_* from `environment` (may be null) without allocating, and
/// reports each bad value once on stderr with the default used instead.
/// Ignores the environment of AT_SECURE (setuid, setgid, capability) processes,
/// whose environment belongs to whoever started them.
void read_options(char** environment) noexcept;

}  // namespace secbits::preload
