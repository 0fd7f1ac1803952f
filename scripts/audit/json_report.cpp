#include "audit/json_report.hpp"

#include <cstdio>

#include "audit/text.hpp"

namespace secbits::audit {

namespace {

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (const char c : valid_utf8(text)) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(c));
      out += escape;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

const char* boolean(bool value) { return value ? "true" : "false"; }

}  // namespace

std::string json_report(const Examination& process) {
  std::string out = "{\"pid\":" + process.pid + ",\"name\":" + json_string(process.comm) +
                    ",\"interposer\":" + boolean(process.interposer) + ",\"library\":" + boolean(process.library) +
                    ",\"mode\":" + json_string(process.kind()) +
                    // null when SECBITS_SOURCE is not in the environment (or it cannot be read).
                    ",\"requested_source\":" +
                    (process.requested_source.empty() ? std::string("null") : json_string(process.requested_source)) +
                    ",\"pool\":{\"source\":" + json_string(process.source()) +
                    ",\"reserved_bytes\":" + std::to_string(process.pool_reserved_bytes) +
                    ",\"mappings\":" + std::to_string(process.pool_mappings) +
                    ",\"resident_bytes\":" + std::to_string(process.pool_resident_bytes) +
                    ",\"locked_bytes\":" + std::to_string(process.pool_locked_bytes) +
                    ",\"dumpable_mappings\":" + std::to_string(process.pool_dumpable_mappings) +
                    ",\"unmatched_markers\":" + std::to_string(process.unmatched_markers) +
                    ",\"secret_mappings\":" + std::to_string(process.pool_secret_mappings) +
                    ",\"secret_verified_mappings\":" + std::to_string(process.pool_secret_verified) +
                    ",\"secret_resident_bytes\":" + std::to_string(process.pool_secret_resident_bytes) +
                    ",\"anonymous_mappings\":" + std::to_string(process.pool_anonymous_mappings) +
                    ",\"anonymous_resident_bytes\":" + std::to_string(process.pool_anonymous_resident_bytes) +
                    "},\"process\":{\"locked_bytes\":" + std::to_string(process.locked_bytes) +
                    // null when unlimited, and also when the limit could not be read.
                    ",\"memlock_limit\":" +
                    (process.memlock_limit ? std::to_string(*process.memlock_limit) : std::string("null")) +
                    ",\"mappings\":" + std::to_string(process.mappings) +
                    ",\"max_map_count\":" + std::to_string(process.max_map_count) +
                    ",\"unprotected_heap_bytes\":" + std::to_string(process.unprotected_heap_bytes) +
                    "},\"ok\":" + boolean(process.ok()) +
                    // null when no page is committed: nothing to read yet.
                    ",\"readable_by_other_processes\":" +
                    (process.readable_by_others() ? boolean(*process.readable_by_others()) : "null") +
                    ",\"problems\":[";
  for (std::size_t i = 0; i < process.problems.size(); ++i) {
    out += (i ? "," : "") + json_string(process.problems[i]);
  }
  out += "],\"notes\":[";
  for (std::size_t i = 0; i < process.notes.size(); ++i) out += (i ? "," : "") + json_string(process.notes[i]);
  return out + "]}";
}

std::string json_fleet(const Fleet& fleet) {
  std::string out = "{\"examined\":" + std::to_string(fleet.examined.size()) +
                    ",\"failed\":" + std::to_string(fleet.failed()) +
                    ",\"skipped\":{\"exited\":" + std::to_string(fleet.skipped_exited) +
                    ",\"unreadable\":" + std::to_string(fleet.skipped_unreadable) + "},\"processes\":[";
  for (std::size_t i = 0; i < fleet.examined.size(); ++i) out += (i ? "," : "") + json_report(fleet.examined[i]);
  return out + "]}";
}

}  // namespace secbits::audit
