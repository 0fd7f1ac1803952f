#include "audit/prometheus_report.hpp"

#include <functional>

#include "audit/text.hpp"

namespace secbits::audit {

namespace {

/// A label value as the format wants it: UTF-8, with backslash, double
/// quote and line feed escaped. Other control characters become '?': the
/// format allows them, but not every reader of the file does.
std::string label_value(const std::string& text) {
  std::string out;
  for (const char c : valid_utf8(text)) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) out += '?';
    else out += c;
  }
  return out;
}

/// Every per-process sample carries pid and comm; an info gauge, one more
/// label (name="value").
std::string labels(const Examination& process, const std::string& extra) {
  std::string out = "{pid=\"" + process.pid + "\",comm=\"" + label_value(process.comm) + "\"";
  if (!extra.empty()) out += "," + extra;
  return out + "}";
}

class Exposition {
 public:
  explicit Exposition(const Fleet& fleet) : fleet_(fleet) {}

  /// One family: HELP, TYPE, then a sample for each process that has a
  /// value (`value` returns "" for none). A family without samples is left
  /// out, HELP and TYPE included.
  /// `label` gives an info gauge's extra label of a process, as name="value".
  void per_process(const std::string& name, const std::string& help,
                   const std::function<std::string(const Examination&)>& value,
                   const std::function<std::string(const Examination&)>& label = {}) {
    std::string samples;
    for (const Examination& process : fleet_.examined) {
      const std::string text = value(process);
      if (text.empty()) continue;
      samples += name + labels(process, label ? label(process) : std::string()) + " " + text + "\n";
    }
    if (!samples.empty()) out_ += header(name, help) + samples;
  }

  void machine(const std::string& name, const std::string& help, const std::string& samples) {
    out_ += header(name, help) + samples;
  }

  std::string text() const { return out_; }

 private:
  static std::string header(const std::string& name, const std::string& help) {
    return "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n";
  }

  const Fleet& fleet_;
  std::string out_;
};

std::string number(unsigned long value) { return std::to_string(value); }

}  // namespace

std::string prometheus_metrics(const Fleet& fleet) {
  Exposition metrics(fleet);
  metrics.per_process("secbits_process_guarantees_ok",
                      "1 when the process's secbits memory is locked and excluded from core dumps (secbits-audit's "
                      "verdict), 0 when not.",
                      [](const Examination& p) { return number(p.ok() ? 1 : 0); });
  metrics.per_process("secbits_process_problems",
                      "Problems secbits-audit found in the process (secbits-audit PID names them).",
                      [](const Examination& p) { return number(p.problems.size()); });
  metrics.per_process("secbits_process_info",
                      "Always 1; mode is all or tagged (the interposer), library (libsecbits.so) or none.",
                      [](const Examination&) { return std::string("1"); },
                      [](const Examination& p) { return "mode=\"" + label_value(p.kind()) + "\""; });
  metrics.per_process("secbits_pool_source_info",
                      "Always 1; source is where the pool's committed pages come from: secret (memfd_secret, not "
                      "readable by other processes, root included), anonymous (readable by root and ptrace-capable "
                      "processes of the same user), mixed (both) or none yet (nothing committed).",
                      [](const Examination&) { return std::string("1"); },
                      [](const Examination& p) { return "source=\"" + p.source() + "\""; });
  metrics.per_process("secbits_pool_resident_bytes", "Secure pool memory resident in RAM.",
                      [](const Examination& p) { return number(p.pool_resident_bytes); });
  metrics.per_process("secbits_pool_locked_bytes", "Secure pool memory locked in RAM.",
                      [](const Examination& p) { return number(p.pool_locked_bytes); });
  metrics.per_process("secbits_pool_reserved_bytes", "Address space reserved for the secure pool.",
                      [](const Examination& p) { return number(p.pool_reserved_bytes); });
  metrics.per_process("secbits_pool_mappings", "Kernel mappings (VMAs) inside the secure pool.",
                      [](const Examination& p) { return number(p.pool_mappings); });
  metrics.per_process("secbits_pool_dumpable_mappings", "Secure pool mappings a core dump would include.",
                      [](const Examination& p) { return number(p.pool_dumpable_mappings); });
  metrics.per_process("secbits_pool_secret_mappings", "Secure pool mappings of secret memory (memfd_secret).",
                      [](const Examination& p) { return number(p.pool_secret_mappings); });
  metrics.per_process("secbits_pool_secret_resident_bytes",
                      "Secure pool memory resident in secret memory (memfd_secret), which no other process can read.",
                      [](const Examination& p) { return number(p.pool_secret_resident_bytes); });
  metrics.per_process("secbits_process_locked_bytes", "Memory the process has locked in RAM (VmLck).",
                      [](const Examination& p) { return number(p.locked_bytes); });
  metrics.per_process("secbits_process_memlock_limit_bytes",
                      "The process's RLIMIT_MEMLOCK soft limit (+Inf when unlimited; absent when unreadable).",
                      [](const Examination& p) -> std::string {
                        if (!p.memlock_limit_known) return {};
                        return p.memlock_limit ? number(*p.memlock_limit) : "+Inf";
                      });
  metrics.per_process("secbits_process_mappings", "Kernel mappings (VMAs) of the whole process.",
                      [](const Examination& p) { return number(p.mappings); });
  metrics.per_process("secbits_process_mappings_limit",
                      "vm.max_map_count, the most mappings a process may have (divide secbits_process_mappings by it).",
                      [](const Examination& p) { return number(p.max_map_count); });
  metrics.per_process("secbits_process_unprotected_heap_bytes",
                      "Resident [heap] memory outside the pool, which a core dump would include (interposer in mode "
                      "all only).",
                      [](const Examination& p) { return p.whole_process ? number(p.unprotected_heap_bytes) : ""; });

  metrics.machine("secbits_audit_processes_examined", "Processes running secbits that secbits-audit examined.",
                  "secbits_audit_processes_examined " + number(fleet.examined.size()) + "\n");
  metrics.machine("secbits_audit_processes_failed", "Examined processes whose guarantees do not hold.",
                  "secbits_audit_processes_failed " + number(fleet.failed()) + "\n");
  metrics.machine("secbits_audit_processes_skipped",
                  "Processes secbits-audit could not judge: exited while read, or unreadable (permission; run it as "
                  "root).",
                  "secbits_audit_processes_skipped{reason=\"exited\"} " + number(fleet.skipped_exited) +
                      "\nsecbits_audit_processes_skipped{reason=\"unreadable\"} " +
                      number(fleet.skipped_unreadable) + "\n");
  return metrics.text();
}

}  // namespace secbits::audit
