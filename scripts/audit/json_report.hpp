#pragma once

// secbits-audit --json: one JSON object, on one line, for log pipelines and
// scripts.
#include <string>

#include "audit/examine.hpp"
#include "audit/fleet.hpp"

namespace secbits::audit {

std::string json_report(const Examination& process);

/// {"examined":N,"failed":N,"skipped":{"exited":N,"unreadable":N},"processes":[...]}
/// with one json_report object per process.
std::string json_fleet(const Fleet& fleet);

}  // namespace secbits::audit
