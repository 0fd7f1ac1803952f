#pragma once

// One process examined from outside: what secbits-audit reads in /proc/PID
// and the verdict it draws from it, for every output format to print.
//
// A process can name a memfd anything, so the pool's marker alone proves
// nothing: the verdict rests on secbits code mapped from a file and on the
// marker's range being one reservation of anonymous memory, tiled exactly,
// split only where the pool committed pages: anonymous memory, or secret
// memory (memfd_secret, mapped shared as "/secretmem (deleted)").
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/proc_smaps.hpp"

namespace secbits::audit {

struct Examination {
  std::string pid;
  std::string comm;            // /proc/PID/comm as the process set it: any bytes
  bool interposer = false;     // libsecbits_preload.so's code is mapped
  bool library = false;        // libsecbits.so's code is mapped
  bool shows_secbits = false;  // see shows_secbits() below
  std::string mode = "all";    // SECBITS_MODE from the environment, when readable
  std::string requested_source;  // SECBITS_SOURCE from the environment; "" when unset or unreadable
  bool any_marker = false;
  bool whole_process = false;  // the interposer in mode all: [heap] is judged too

  unsigned long mappings = 0;  // the process's, all of them
  unsigned long max_map_count = 65530;
  unsigned long locked_bytes = 0;  // VmLck
  bool memlock_limit_known = false;
  std::optional<unsigned long> memlock_limit;  // bytes; empty when unlimited

  unsigned long pool_reserved_bytes = 0;
  unsigned long pool_mappings = 0;
  unsigned long pool_resident_bytes = 0;
  unsigned long pool_locked_bytes = 0;
  unsigned long pool_dumpable_mappings = 0;
  unsigned long unmatched_markers = 0;  // malformed, or with no reservation behind them
  bool pool_found = false;              // a marker matched its reservation
  unsigned long unprotected_heap_bytes = 0;

  // Where the committed pages of the pool come from: secret memory
  // (/secretmem mappings), or anonymous memory the pool committed (open,
  // locked or resident, unlike the bare reservation around it).
  unsigned long pool_secret_mappings = 0;
  unsigned long pool_secret_verified = 0;  // of those, seen on secretmem's file system (root only may look)
  unsigned long pool_secret_resident_bytes = 0;
  unsigned long pool_anonymous_mappings = 0;
  unsigned long pool_anonymous_resident_bytes = 0;

  std::vector<std::string> problems;
  std::vector<std::string> notes;  // said with the verdict, never a failure
  bool ok() const { return problems.empty(); }
  /// "secret", "anonymous", "mixed" (both: the degrade policy served
  /// anonymous pages where secret memory was refused) or "none yet".
  std::string source() const;
  /// Whether another process (root, or a ptrace-capable one of the same
  /// user) can read the pool's committed pages: nothing when none are.
  std::optional<bool> readable_by_others() const;
  /// "all", "tagged", "library" or "none": what kind of secbits process it is.
  std::string kind() const { return interposer ? mode : library ? "library" : "none"; }
};

/// Why a process could not be examined: the file and the errno.
struct Unexaminable {
  std::string path;
  int error = 0;
  bool exited() const;
};

std::variant<Examination, Unexaminable> examine(const std::string& pid);

/// Whether a process shows any sign of secbits in its mappings (from
/// /proc/PID/maps or smaps): the interposer's code mapped from a file, or a
/// pool marker, genuine or not. A process that only loads libsecbits.so and
/// has allocated nothing from its pool shows none: it has nothing to audit.
bool shows_secbits(const std::vector<tools::Mapping>& mappings);

}  // namespace secbits::audit
