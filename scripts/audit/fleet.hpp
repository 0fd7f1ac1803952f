#pragma once

// secbits-audit --all: every process on the machine that shows secbits,
// examined one after another. A process may exit, or turn out unreadable,
// at any point of that walk: it is counted as skipped, never an error.
#include <string>
#include <string_view>
#include <vector>

#include "audit/examine.hpp"

namespace secbits::audit {

struct Fleet {
  std::vector<Examination> examined;  // in PID order
  unsigned long skipped_exited = 0;      // showed secbits, then exited (or its PID was reused) while read
  unsigned long skipped_unreadable = 0;  // may not be read (permission): whether it runs secbits is unknown
  unsigned long failed() const;
  unsigned long skipped() const { return skipped_exited + skipped_unreadable; }
};

/// A glob (fnmatch) over the whole command name when `pattern` holds one of
/// * ? [, otherwise a substring of it; the empty pattern matches everything.
bool comm_matches(std::string_view comm, const std::string& pattern);

/// Every process but this one whose command name (/proc/PID/comm) matches
/// `pattern` and whose maps show secbits (see shows_secbits), examined.
/// Empty, with nothing skipped, when /proc cannot be listed at all.
Fleet examine_fleet(const std::string& pattern);

}  // namespace secbits::audit
