#include "preload/options.hpp"

#include <cstring>
#include <initializer_list>
#include <sys/auxv.h>

#include "os/diagnostics.hpp"

namespace secbits::preload {

constinit Options g_options;

namespace {

bool parse_lock(const char* value, Options& options) noexcept {
  if (std::strcmp(value, "strict") == 0) options.lock = LockPolicy::Strict;
  else if (std::strcmp(value, "degrade") == 0) options.lock = LockPolicy::Degrade;
  else return false;
  return true;
}

bool parse_protect(const char* value, Options& options) noexcept {
  if (std::strcmp(value, "cached") == 0) options.protect = PageProtection::Cached;
  else if (std::strcmp(value, "eager") == 0) options.protect = PageProtection::Eager;
  else if (std::strcmp(value, "none") == 0) options.protect = PageProtection::None;
  else return false;
  return true;
}

bool parse_flag(const char* value, bool* flag) noexcept {
  for (const char* yes : {"1", "true", "yes", "on"}) {
    if (std::strcmp(value, yes) == 0) {
      *flag = true;
      return true;
    }
  }
  for (const char* no : {"0", "false", "no", "off", ""}) {
    if (std::strcmp(value, no) == 0) {
      *flag = false;
      return true;
    }
  }
  return false;
}

bool parse_stats(const char* value, Options& options) noexcept { return parse_flag(value, &options.stats); }
bool parse_verbose(const char* value, Options& options) noexcept { return parse_flag(value, &options.verbose); }

struct Option {
  const char* name;
  const char* choices;
  const char* fallback;
  bool (*parse)(const char* value, Options& options) noexcept;
};

constexpr Option kOptions[] = {
    {"SECBITS_LOCK", "strict|degrade", "degrade", parse_lock},
    {"SECBITS_PROTECT", "cached|eager|none", "cached", parse_protect},
    {"SECBITS_STATS", "1|0", "0", parse_stats},
    {"SECBITS_VERBOSE", "1|0", "0", parse_verbose},
};

/// The value of `name` in "NAME=value", or null.
const char* value_of(const char* entry, const char* name) noexcept {
  const std::size_t length = std::strlen(name);
  return std::strncmp(entry, name, length) == 0 && entry[length] == '=' ? entry + length + 1 : nullptr;
}

}  // namespace

void read_options(char** environment) noexcept {
  if (environment == nullptr || ::getauxval(AT_SECURE) != 0) return;
  for (char** entry = environment; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, "SECBITS_", 8) != 0) continue;
    for (const Option& option : kOptions) {
      const char* value = value_of(*entry, option.name);
      if (value == nullptr || option.parse(value, g_options)) continue;
      option.parse(option.fallback, g_options);
      const char* parts[] = {"secbits: ", option.name, "=\"", value, "\" is not one of ", option.choices,
                             "; using \"", option.fallback, "\""};
      os::write_stderr_line(parts, sizeof parts / sizeof parts[0]);
    }
  }
}

}  // namespace secbits::preload
