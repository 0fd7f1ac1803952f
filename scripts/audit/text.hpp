#pragma once

// Text every output of secbits-audit shares: addresses, sizes, and what a
// process chose to call itself made safe to print.
#include <string>
#include <string_view>

namespace secbits::audit {

std::string hex(unsigned long value);

/// "2.2 MiB", "512 bytes": for people; the machine formats carry bytes.
std::string size_text(unsigned long bytes);

/// `text` with every byte that is not part of valid UTF-8 replaced by U+FFFD.
/// A process names itself and its memfds with any bytes (a 15-byte comm may
/// even cut a character in two); JSON and the Prometheus format want UTF-8.
std::string valid_utf8(std::string_view text);

/// valid_utf8(text) with control characters (a newline included) replaced
/// by '?', so that a line of output stays one line.
std::string printable(std::string_view text);

}  // namespace secbits::audit
