// secbits-audit PID | --all [PATTERN]: checks, from outside and without the
// process's help, that a process's secbits memory is what secbits promises
// (examine.hpp), for one process or for every process on the machine that
// runs secbits (fleet.hpp), as text, JSON or Prometheus metrics.
// Exit status: 0 when the guarantees hold (in every process examined), 1
// when they do not (in any), 2 when the process cannot be examined (with
// --all: when no process could be), 3 when the output could not be written.
#include <cerrno>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <variant>

#include "audit/examine.hpp"
#include "audit/fleet.hpp"
#include "audit/json_report.hpp"
#include "audit/prometheus_report.hpp"
#include "audit/text_report.hpp"

namespace {

using namespace secbits::audit;

enum class Format { Text, Json, Prometheus };

struct Arguments {
  Format format = Format::Text;
  bool all = false;
  std::string target;  // the PID, or with --all the pattern ("" for every process)
};

constexpr const char* kUsage =
    "usage: secbits-audit [--json | --prometheus] PID\n"
    "       secbits-audit [--json | --prometheus] --all [PATTERN]\n"
    "       secbits-audit --help | --version\n";

/// The arguments, or an exit status when there is nothing more to do.
std::variant<Arguments, int> parse_arguments(int argc, char** argv) {
  Arguments arguments;
  bool target_given = false, options_ended = false;
  const auto usage_error = [](const std::string& message) {
    std::cerr << "secbits-audit: " << message << "\n" << kUsage;
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    if (!options_ended && argument == "--") {
      options_ended = true;
    } else if (!options_ended && (argument == "--json" || argument == "--prometheus")) {
      const Format format = argument == "--json" ? Format::Json : Format::Prometheus;
      if (arguments.format != Format::Text && arguments.format != format) {
        return usage_error("--json and --prometheus exclude each other");
      }
      arguments.format = format;
    } else if (!options_ended && argument == "--all") {
      arguments.all = true;
    } else if (!options_ended && argument.starts_with("--all=")) {
      // --all=PATTERN: the spelling of an optional value that cannot be
      // mistaken for a PID or a PATTERN of its own.
      if (target_given) return usage_error("one PID or PATTERN only: '" + argument + "'");
      arguments.all = true;
      arguments.target = argument.substr(argument.find('=') + 1);
      target_given = true;
    } else if (!options_ended && argument == "--version") {
      std::cout << "secbits-audit " SECBITS_VERSION "\n";
      return 0;
    } else if (!options_ended && (argument == "-h" || argument == "--help")) {
      std::cout << kUsage
                << "Checks that the secbits pool of process PID is locked and excluded from core dumps, and\n"
                   "in the interposer's whole-process mode that no heap memory is left unprotected; says where\n"
                   "the pool's pages come from (secret memory, which no other process can read, or anonymous).\n"
                   "  --all [PATTERN]  every process that runs secbits (its interposer or a pool marker mapped),\n"
                   "  --all=PATTERN    one line each; PATTERN keeps those whose command name (/proc/PID/comm)\n"
                   "                   contains it, or matches it whole if it has a glob character (* ? [)\n"
                   "  --json           one JSON object\n"
                   "  --prometheus     Prometheus text format, for node_exporter's textfile collector\n"
                   "  --help, --version  print this, or the version, and exit\n"
                   "Exit status: 0 guarantees hold, 1 they do not, 2 the process cannot be examined\n"
                   "(--all: 0 they hold in every process examined, 1 not in some, 2 none could be examined);\n"
                   "3 the output could not be written.\n";
      return 0;
    } else if (!options_ended && argument.size() > 1 && argument.front() == '-') {
      return usage_error("unknown option '" + argument + "'");
    } else if (target_given) {
      return usage_error("one PID or PATTERN only: '" + argument + "'");
    } else {
      arguments.target = argument;
      target_given = true;
    }
  }
  if (!arguments.all) {
    if (!target_given) return usage_error("no PID given");
    if (arguments.target.empty() || arguments.target.find_first_not_of("0123456789") != std::string::npos) {
      return usage_error("not a process id: '" + arguments.target + "'");
    }
  }
  return arguments;
}

void report_unexaminable(const Unexaminable& failure) {
  std::cerr << "secbits-audit: cannot read " << failure.path << ": " << std::strerror(failure.error);
  if (failure.exited()) std::cerr << " (no such process: it may have exited)";
  if (failure.error == EACCES || failure.error == EPERM) std::cerr << " (run as the process's user, or as root)";
  std::cerr << "\n";
}

int audit_one(const Arguments& arguments) {
  auto outcome = examine(arguments.target);
  if (const auto* failure = std::get_if<Unexaminable>(&outcome)) {
    report_unexaminable(*failure);
    // The metrics file stays valid and says why it holds no process.
    if (arguments.format == Format::Prometheus) {
      Fleet none;
      ++(failure->exited() ? none.skipped_exited : none.skipped_unreadable);
      std::cout << prometheus_metrics(none);
    }
    return 2;
  }
  const Examination& process = std::get<Examination>(outcome);
  switch (arguments.format) {
    case Format::Text: std::cout << text_report(process); break;
    case Format::Json: std::cout << json_report(process) << "\n"; break;
    case Format::Prometheus: {
      Fleet one;
      one.examined.push_back(process);
      std::cout << prometheus_metrics(one);
      break;
    }
  }
  return process.ok() ? 0 : 1;
}

int audit_all(const Arguments& arguments) {
  const Fleet fleet = examine_fleet(arguments.target);
  switch (arguments.format) {
    case Format::Text: std::cout << text_fleet(fleet); break;
    case Format::Json: std::cout << json_fleet(fleet) << "\n"; break;
    case Format::Prometheus: std::cout << prometheus_metrics(fleet); break;
  }
  if (fleet.examined.empty()) return 2;
  return fleet.failed() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const auto parsed = parse_arguments(argc, argv);
  if (const int* status = std::get_if<int>(&parsed)) return *status;
  const Arguments& arguments = std::get<Arguments>(parsed);
  const int status = arguments.all ? audit_all(arguments) : audit_one(arguments);
  std::cout.flush();
  // Output that did not reach its file (a full disk under the textfile
  // collector's directory) must not pass for a verdict, nor be installed as
  // one: a status of its own, above the verdicts'.
  if (!std::cout) {
    std::cerr << "secbits-audit: cannot write the output\n";
    return 3;
  }
  return status;
}
