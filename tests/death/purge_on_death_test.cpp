// Purge on death, seen from outside: purge_subject holds secrets and dies of
// a signal while this test traces it; at the moment it exits (ptrace's exit
// stop, before its memory is torn down) the test reads every resident page
// of it through /proc/PID/mem, including pages that are PROT_NONE or left
// out of core dumps, which is more than a core file would hold, and looks
// for each secret. With the purge off the same secrets are found: the test
// can fail. Where the kernel writes core files into the working directory
// (core_pattern "core"), the subject dumps one there, and it is searched too.
#include <dirent.h>
#include <fcntl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/command.hpp"
#include "support/smaps.hpp"

extern char** environ;

namespace {

constexpr std::size_t kSecretBytes = 32;

struct Death {
  bool exited = false;
  int exit_code = -1;
  int term_signal = 0;
  std::string stderr_text;
  std::size_t secrets = 0;        // how many the subject reported
  std::size_t secrets_found = 0;  // how many of them were still in its memory as it exited
  bool core_written = false;      // a core file in its working directory
  std::size_t secrets_in_core = 0;
};

/// Whether this kernel writes a process's core file as "core" (or
/// "core.PID") in its working directory, rather than to a helper program.
bool cores_land_in_working_directory() {
  std::ifstream pattern("/proc/sys/kernel/core_pattern");
  std::string line;
  return std::getline(pattern, line) && line == "core";
}

/// The contents of the first file named core* in `directory`, if any.
std::optional<std::string> core_file_in(const std::string& directory) {
  DIR* entries = ::opendir(directory.c_str());
  if (entries == nullptr) return std::nullopt;
  std::optional<std::string> contents;
  while (const dirent* entry = ::readdir(entries)) {
    if (std::strncmp(entry->d_name, "core", 4) != 0) continue;
    std::ifstream file(directory + "/" + entry->d_name, std::ios::binary);
    contents.emplace(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    break;
  }
  ::closedir(entries);
  return contents;
}

std::string read_all(int fd) {
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
  return text;
}

/// Whether `needle` occurs in any resident page of process `pid`.
bool in_memory_of(pid_t pid, const std::string& needle) {
  const int mem = ::open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY);
  if (mem < 0) return false;
  bool found = false;
  std::vector<char> chunk(1 << 20);
  for (const secbits::test::Mapping& mapping : secbits::test::all_mappings_of(pid)) {
    if (found) break;
    if (mapping.rss_kb == 0 || mapping.path == "[vsyscall]" || mapping.path == "[vvar]") continue;
    // Chunks overlap by the needle's length less one, so that no occurrence
    // straddles two reads unseen.
    for (std::uintptr_t at = mapping.start; at < mapping.end && !found;
         at += chunk.size() - (needle.size() - 1)) {
      const std::size_t want = std::min<std::uintptr_t>(chunk.size(), mapping.end - at);
      const ssize_t got = ::pread(mem, chunk.data(), want, static_cast<off_t>(at));
      if (got <= 0) break;
      found = ::memmem(chunk.data(), static_cast<std::size_t>(got), needle.data(), needle.size()) != nullptr;
      if (want < chunk.size()) break;
    }
  }
  ::close(mem);
  return found;
}

/// Runs purge_subject with `arguments` (and the interposer if `preload`),
/// passing on every signal it gets, and looks for its secrets as it exits.
Death run_subject(const std::vector<std::string>& arguments, bool preload, const std::vector<std::string>& settings = {}) {
  int secrets_pipe[2];
  int stderr_pipe[2];
  if (::pipe(secrets_pipe) != 0 || ::pipe(stderr_pipe) != 0) std::abort();
  std::vector<std::string> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, "SECBITS_", 8) != 0 && std::strncmp(*entry, "LD_PRELOAD=", 11) != 0) {
      environment.emplace_back(*entry);
    }
  }
  if (preload) environment.emplace_back(std::string("LD_PRELOAD=") + SECBITS_TEST_PRELOAD);
  environment.insert(environment.end(), settings.begin(), settings.end());
  std::vector<std::string> argv_text = {SECBITS_TEST_SUBJECT};
  argv_text.insert(argv_text.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (std::string& argument : argv_text) argv.push_back(argument.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& entry : environment) envp.push_back(entry.data());
  envp.push_back(nullptr);

  const secbits::test::TemporaryDirectory working_directory;
  const pid_t pid = ::fork();
  if (pid < 0) std::abort();
  if (pid == 0) {
    const rlimit unlimited_core = {RLIM_INFINITY, RLIM_INFINITY};
    if (::setrlimit(RLIMIT_CORE, &unlimited_core) != 0 || ::chdir(working_directory.path().c_str()) != 0) ::_exit(126);
    ::dup2(secrets_pipe[1], 3);
    ::dup2(stderr_pipe[1], STDERR_FILENO);
    for (const int fd : {secrets_pipe[0], secrets_pipe[1], stderr_pipe[0], stderr_pipe[1]}) {
      if (fd != 3 && fd != STDERR_FILENO) ::close(fd);
    }
    ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(secrets_pipe[1]);
  ::close(stderr_pipe[1]);
  // At the exit stop the subject still holds its end of the pipe open: read
  // what it wrote without waiting for an end of file that has not come yet.
  ::fcntl(secrets_pipe[0], F_SETFL, O_NONBLOCK);
  Death death;
  std::vector<std::string> secrets;
  int status = 0;
  ::waitpid(pid, &status, 0);  // the stop after execve
  ::ptrace(PTRACE_SETOPTIONS, pid, nullptr, reinterpret_cast<void*>(PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL));
  ::ptrace(PTRACE_CONT, pid, nullptr, nullptr);
  for (;;) {
    if (::waitpid(pid, &status, 0) < 0) break;
    if (WIFEXITED(status) || WIFSIGNALED(status)) break;
    if (!WIFSTOPPED(status)) continue;
    if ((status >> 8) == (SIGTRAP | (PTRACE_EVENT_EXIT << 8))) {
      const std::string written = read_all(secrets_pipe[0]);
      for (std::size_t at = 0; at + kSecretBytes <= written.size(); at += kSecretBytes) {
        secrets.push_back(written.substr(at, kSecretBytes));
      }
      death.secrets = secrets.size();
      for (const std::string& secret : secrets) {
        if (in_memory_of(pid, secret)) ++death.secrets_found;
      }
      ::ptrace(PTRACE_CONT, pid, nullptr, nullptr);
      continue;
    }
    ::ptrace(PTRACE_CONT, pid, nullptr, reinterpret_cast<void*>(static_cast<std::uintptr_t>(WSTOPSIG(status))));
  }
  death.stderr_text = read_all(stderr_pipe[0]);
  ::close(secrets_pipe[0]);
  ::close(stderr_pipe[0]);
  if (WIFEXITED(status)) {
    death.exited = true;
    death.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    death.term_signal = WTERMSIG(status);
  }
  if (const std::optional<std::string> core = core_file_in(working_directory.path())) {
    death.core_written = true;
    for (const std::string& secret : secrets) {
      if (core->find(secret) != std::string::npos) ++death.secrets_in_core;
    }
  }
  return death;
}

struct FatalSignal {
  const char* trigger;
  int signal;
};

const FatalSignal kFatalSignals[] = {{"segv", SIGSEGV}, {"bus", SIGBUS}, {"ill", SIGILL}, {"fpe", SIGFPE},
                                     {"abrt", SIGABRT}, {"quit", SIGQUIT}, {"trap", SIGTRAP}};

class EveryFatalSignal : public testing::TestWithParam<FatalSignal> {};

/// The core file, where the kernel writes one beside the process, holds
/// none of the secrets either.
void expect_clean_core(const Death& death) {
  if (!cores_land_in_working_directory()) return;
  EXPECT_TRUE(death.core_written) << death.stderr_text;
  EXPECT_EQ(death.secrets_in_core, 0u);
}

TEST_P(EveryFatalSignal, InterposerWipesEveryLiveBlockBeforeTheProcessDies) {
  const Death death = run_subject({"malloc", "none", GetParam().trigger}, true);
  EXPECT_EQ(death.term_signal, GetParam().signal) << death.stderr_text;
  EXPECT_EQ(death.secrets, 2u) << death.stderr_text;
  EXPECT_EQ(death.secrets_found, 0u) << death.stderr_text;
  expect_clean_core(death);
}

TEST_P(EveryFatalSignal, LibraryWipesItsBlocksAndSecMemBeforeTheProcessDies) {
  const Death death = run_subject({"library", "none", GetParam().trigger}, false);
  EXPECT_EQ(death.term_signal, GetParam().signal) << death.stderr_text;
  EXPECT_EQ(death.secrets, 3u) << death.stderr_text;
  EXPECT_EQ(death.secrets_found, 0u) << death.stderr_text;
  expect_clean_core(death);
}

INSTANTIATE_TEST_SUITE_P(Signals, EveryFatalSignal, testing::ValuesIn(kFatalSignals),
                         [](const testing::TestParamInfo<FatalSignal>& info) { return std::string(info.param.trigger); });

TEST(PurgeOff, LeavesTheSecretsInTheDyingProcess) {
  const Death interposed = run_subject({"malloc", "none", "segv"}, true, {"SECBITS_PURGE=off"});
  EXPECT_EQ(interposed.term_signal, SIGSEGV) << interposed.stderr_text;
  EXPECT_EQ(interposed.secrets_found, 2u) << interposed.stderr_text;
  const Death library = run_subject({"library", "none", "segv", "off"}, false);
  EXPECT_EQ(library.term_signal, SIGSEGV) << library.stderr_text;
  EXPECT_EQ(library.secrets_found, 3u) << library.stderr_text;
}

TEST(TerminationSignals, ArePurgedOnlyWhenAskedFor) {
  for (const char* trigger : {"term", "int", "hup"}) {
    const Death by_default = run_subject({"malloc", "none", trigger}, true);
    EXPECT_NE(by_default.term_signal, 0) << trigger << by_default.stderr_text;
    EXPECT_EQ(by_default.secrets_found, 2u) << trigger;
    const Death asked = run_subject({"malloc", "none", trigger}, true, {"SECBITS_PURGE=all"});
    EXPECT_EQ(asked.term_signal, by_default.term_signal) << trigger << asked.stderr_text;
    EXPECT_EQ(asked.secrets_found, 0u) << trigger;
    const Death library = run_subject({"library", "none", trigger, "all"}, false);
    EXPECT_EQ(library.term_signal, by_default.term_signal) << trigger << library.stderr_text;
    EXPECT_EQ(library.secrets_found, 0u) << trigger;
  }
}

TEST(ProgramHandler, RunsFirstAndThePurgeFollowsWhenItLetsTheSignalKill) {
  for (const bool preload : {true, false}) {
    const Death death = run_subject({preload ? "malloc" : "library", "chain", "segv"}, preload);
    EXPECT_EQ(death.term_signal, SIGSEGV) << death.stderr_text;
    EXPECT_NE(death.stderr_text.find("program handler ran"), std::string::npos) << death.stderr_text;
    EXPECT_EQ(death.secrets_found, 0u) << (preload ? "interposer" : "library");
  }
}

TEST(ProgramHandler, ThatRecoversFromTheFaultKeepsItsSecrets) {
  for (const bool preload : {true, false}) {
    const Death death = run_subject({preload ? "malloc" : "library", "recover", "segv"}, preload);
    EXPECT_TRUE(death.exited) << death.stderr_text;
    EXPECT_EQ(death.exit_code, 0) << death.stderr_text;
    EXPECT_NE(death.stderr_text.find("program handler recovered"), std::string::npos) << death.stderr_text;
    EXPECT_NE(death.stderr_text.find("secrets intact"), std::string::npos) << death.stderr_text;
  }
}

}  // namespace
