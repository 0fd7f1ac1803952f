#include "preload/options.hpp"

#include <cstring>
#include <initializer_list>
#include <sys/auxv.h>

#include "os/diagnostics.hpp"

namespace secbits::preload {

constinit Options g_options;

namespace {

LockPolicy default_lock(Mode mode) noexcept { return mode == Mode::Tagged ? LockPolicy::Strict : LockPolicy::Degrade; }

bool parse_mode(const char* value, Options& options) noexcept {
  if (std::strcmp(value, "all") == 0) options.mode = Mode::All;
  else if (std::strcmp(value, "tagged") == 0) options.mode = Mode::Tagged;
  else return false;
  options.lock = default_lock(options.mode);  // SECBITS_LOCK, read after, may override it
  return true;
}

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

bool parse_source(const char* value, Options& options) noexcept {
  if (std::strcmp(value, "anonymous") == 0) options.source = PageSource::Anonymous;
  else if (std::strcmp(value, "secret") == 0) options.source = PageSource::Secret;
  else if (std::strcmp(value, "auto") == 0) options.source = PageSource::Auto;
  else return false;
  return true;
}

bool parse_hardening(const char* value, Options& options) noexcept {
  if (value[0] < '0' || value[0] > '3' || value[1] != '\0') return false;
  options.hardening = static_cast<unsigned>(value[0] - '0');
  return true;
}

bool parse_purge(const char* value, Options& options) noexcept {
  if (std::strcmp(value, "fatal") == 0) options.purge = PurgeSignals::Fatal;
  else if (std::strcmp(value, "all") == 0) options.purge = PurgeSignals::FatalAndTermination;
  else if (std::strcmp(value, "off") == 0) options.purge = PurgeSignals::None;
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

bool parse_stats(const char* value, Options& options) noexcept {
  if (std::strcmp(value, "json") == 0) {
    options.stats = StatsFormat::Json;
    return true;
  }
  bool text = false;
  if (!parse_flag(value, &text)) return false;
  options.stats = text ? StatsFormat::Text : StatsFormat::Off;
  return true;
}
bool parse_verbose(const char* value, Options& options) noexcept { return parse_flag(value, &options.verbose); }

struct Option {
  const char* name;
  const char* choices;
  bool (*parse)(const char* value, Options& options) noexcept;
  const char* (*fallback)(const Options& options) noexcept;
};

static_assert(pool::kDefaultHardening == 1, "SECBITS_HARDEN's fallback below names the default");

// Read in this order: the lock policy's default depends on the mode.
constexpr Option kOptions[] = {
    {"SECBITS_MODE", "all|tagged", parse_mode, [](const Options&) noexcept { return "all"; }},
    {"SECBITS_LOCK", "strict|degrade", parse_lock,
     [](const Options& options) noexcept { return options.mode == Mode::Tagged ? "strict" : "degrade"; }},
    {"SECBITS_PROTECT", "cached|eager|none", parse_protect, [](const Options&) noexcept { return "cached"; }},
    {"SECBITS_SOURCE", "anonymous|secret|auto", parse_source, [](const Options&) noexcept { return "anonymous"; }},
    {"SECBITS_HARDEN", "0|1|2|3", parse_hardening, [](const Options&) noexcept { return "1"; }},
    {"SECBITS_PURGE", "fatal|all|off", parse_purge, [](const Options&) noexcept { return "fatal"; }},
    {"SECBITS_STATS", "1|0|json", parse_stats, [](const Options&) noexcept { return "0"; }},
    {"SECBITS_VERBOSE", "1|0", parse_verbose, [](const Options&) noexcept { return "0"; }},
};

/// The value of NAME in the environment, or null.
const char* find(char** environment, const char* name) noexcept {
  const std::size_t length = std::strlen(name);
  for (char** entry = environment; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, name, length) == 0 && (*entry)[length] == '=') return *entry + length + 1;
  }
  return nullptr;
}

/// Secret memory can only be mapped shared, and a whole-process child
/// shares its heap with its parent from fork() until the pool's fork handler
/// could give it pages of its own; glibc writes into malloc'd objects of the
/// child (thread-specific data, stdio locks) before any handler runs, that
/// is, into the parent's heap. So whole-process mode keeps anonymous pages.
void keep_whole_process_anonymous(const char* value) noexcept {
  if (g_options.mode != Mode::All || g_options.source == PageSource::Anonymous) return;
  g_options.source = PageSource::Anonymous;
  const char* parts[] = {"secbits: SECBITS_SOURCE=\"", value,
                         "\" needs SECBITS_MODE=tagged: in mode all a forked child would share its heap's secret pages "
                         "with its parent; using \"anonymous\""};
  os::write_stderr_line(parts, sizeof parts / sizeof parts[0]);
}

}  // namespace

void read_options(char** environment) noexcept {
  if (environment == nullptr || ::getauxval(AT_SECURE) != 0) return;
  for (const Option& option : kOptions) {
    const char* value = find(environment, option.name);
    if (value == nullptr || option.parse(value, g_options)) continue;
    const char* fallback = option.fallback(g_options);
    option.parse(fallback, g_options);
    const char* parts[] = {"secbits: ", option.name, "=\"", value, "\" is not one of ", option.choices,
                           "; using \"", fallback, "\""};
    os::write_stderr_line(parts, sizeof parts / sizeof parts[0]);
  }
  if (const char* source = find(environment, "SECBITS_SOURCE")) keep_whole_process_anonymous(source);
}

}  // namespace secbits::preload
