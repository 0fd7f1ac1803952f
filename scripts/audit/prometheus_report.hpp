#pragma once

// secbits-audit --prometheus: the Prometheus text exposition format (0.0.4),
// for node_exporter's textfile collector. Gauges only, no timestamps (the
// collector forbids them; node_textfile_mtime_seconds says how fresh the
// file is).
#include <string>

#include "audit/fleet.hpp"

namespace secbits::audit {

/// Per-process gauges labelled pid and comm, then the audit's own counts.
/// Valid with no process at all: the machine-level gauges are always there.
std::string prometheus_metrics(const Fleet& fleet);

}  // namespace secbits::audit
