#pragma once

// secbits-audit's output for people: a report for one process, a line for
// each process of a fleet.
#include <string>

#include "audit/examine.hpp"
#include "audit/fleet.hpp"

namespace secbits::audit {

std::string text_report(const Examination& process);

/// A header, one line per process (its problems on the same line), and a
/// summary line with the counts.
std::string text_fleet(const Fleet& fleet);

}  // namespace secbits::audit
