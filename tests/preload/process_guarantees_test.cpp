// The interposer's guarantees, observed from outside the process: this test
// runs secret_holder (an ordinary program) with LD_PRELOAD set to the
// interposer, or without it as a control, and looks at it the way an
// attacker or a crash would: /proc/PID/smaps, every page of /proc/PID/mem
// (as root, PROT_NONE pages too), a core file written by gdb's gcore, and
// what the program itself writes on stderr. This driver is not preloaded.
//
// The secrets are random printable bytes made at run time and sent to the
// helper on a pipe, which reads them straight into malloc()ed blocks: they
// exist nowhere else in its memory, and never in any program text.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <iostream>
#include <linux/capability.h>
#include <optional>
#include <poll.h>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <utility>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "support/command.hpp"
#include "support/lock_budget.hpp"

extern char** environ;

namespace {

constexpr std::size_t kPage = 4096;
constexpr int kTimeoutMs = 60000;

// ---------------------------------------------------------------------------
// Running the helper.

struct Spawn {
  Spawn(std::vector<std::string> args_, bool preload_ = true, std::vector<std::string> environment_ = {},
        std::function<bool()> before_exec_ = nullptr)
      : args(std::move(args_)),
        preload(preload_),
        environment(std::move(environment_)),
        before_exec(std::move(before_exec_)) {}

  std::vector<std::string> args;
  bool preload;                          // with LD_PRELOAD=libsecbits_preload.so
  std::vector<std::string> environment;  // NAME=value added to a clean copy of ours
  std::function<bool()> before_exec;     // runs in the forked child; false: exit 126
};

struct Ending {
  bool exited = false;
  int code = -1;
  int signal = 0;
  std::string out;  // stdout not yet consumed by line()
  std::string err;
};

std::string describe(const Ending& ending) {
  std::ostringstream text;
  if (ending.exited) text << "exited with " << ending.code;
  else text << "killed by signal " << ending.signal << " (" << strsignal(ending.signal) << ")";
  text << "; stdout: [" << ending.out << "]; stderr: [" << ending.err << "]";
  return text.str();
}

class Helper {
 public:
  explicit Helper(const Spawn& spawn) {
    std::signal(SIGPIPE, SIG_IGN);  // a helper that died must fail a test, not kill the driver
    std::vector<std::string> args = {SECBITS_TEST_SECRET_HOLDER};
    args.insert(args.end(), spawn.args.begin(), spawn.args.end());
    std::vector<std::string> environment;
    for (char** entry = environ; *entry != nullptr; ++entry) {
      const std::string text = *entry;
      if (text.rfind("LD_PRELOAD=", 0) == 0 || text.rfind("SECBITS_", 0) == 0 || text.rfind("GLIBC_TUNABLES=", 0) == 0) {
        continue;
      }
      environment.push_back(text);
    }
    if (spawn.preload) environment.push_back(std::string("LD_PRELOAD=") + SECBITS_TEST_PRELOAD_LIBRARY);
    environment.insert(environment.end(), spawn.environment.begin(), spawn.environment.end());
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (std::string& entry : environment) envp.push_back(entry.data());
    envp.push_back(nullptr);

    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) std::abort();
    pid_ = ::fork();
    if (pid_ < 0) std::abort();
    if (pid_ == 0) {
      ::dup2(in[0], STDIN_FILENO);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      if (spawn.before_exec && !spawn.before_exec()) ::_exit(126);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    in_ = in[1];
    out_ = out[0];
    err_ = err[0];
  }

  Helper(const Helper&) = delete;
  Helper& operator=(const Helper&) = delete;

  ~Helper() {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    for (int fd : {in_, out_, err_}) {
      if (fd >= 0) ::close(fd);
    }
  }

  pid_t pid() const { return pid_; }

  /// The next line the helper writes on stdout, without its newline; empty
  /// if it closed stdout or said nothing for a minute.
  std::string line() {
    for (;;) {
      const auto newline = pending_.find('\n');
      if (newline != std::string::npos) {
        std::string line = pending_.substr(0, newline);
        pending_.erase(0, newline + 1);
        return line;
      }
      pollfd wait{out_, POLLIN, 0};
      if (::poll(&wait, 1, kTimeoutMs) <= 0) return "";
      char buffer[4096];
      const ssize_t n = ::read(out_, buffer, sizeof buffer);
      if (n <= 0) return "";
      pending_.append(buffer, static_cast<std::size_t>(n));
    }
  }

  void send(const std::string& bytes) {
    for (std::size_t done = 0; done < bytes.size();) {
      const ssize_t n = ::write(in_, bytes.data() + done, bytes.size() - done);
      if (n <= 0) return;  // the helper is gone: what it said will tell why
      done += static_cast<std::size_t>(n);
    }
  }

  /// Closes the helper's stdin, collects everything it still writes, and
  /// waits for it (killing it after a minute of silence).
  Ending finish() {
    ::close(in_);
    in_ = -1;
    Ending ending;
    ending.out = pending_;
    pending_.clear();
    std::vector<pollfd> open = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
    while (!open.empty()) {
      if (::poll(open.data(), open.size(), kTimeoutMs) <= 0) {
        ::kill(pid_, SIGKILL);
        ending.err += "[the driver killed the helper: silent for a minute]";
        break;
      }
      for (std::size_t i = 0; i < open.size();) {
        if (open[i].revents == 0) {
          ++i;
          continue;
        }
        char buffer[4096];
        const ssize_t n = ::read(open[i].fd, buffer, sizeof buffer);
        if (n > 0) {
          (open[i].fd == out_ ? ending.out : ending.err).append(buffer, static_cast<std::size_t>(n));
          open[i].revents = 0;
          ++i;
        } else {
          open.erase(open.begin() + static_cast<std::ptrdiff_t>(i));
        }
      }
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    ending.exited = WIFEXITED(status);
    ending.code = ending.exited ? WEXITSTATUS(status) : -1;
    ending.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return ending;
  }

 private:
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  int err_ = -1;
  bool reaped_ = false;
  std::string pending_;
};

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> result;
  for (std::string word; in >> word;) result.push_back(word);
  return result;
}

std::uintptr_t parse_address(const std::string& text) {
  return static_cast<std::uintptr_t>(std::strtoull(text.c_str(), nullptr, 16));
}

/// "NAME=ADDRESS" words of a helper's line.
std::vector<std::pair<std::string, std::uintptr_t>> named_addresses(const std::vector<std::string>& line) {
  std::vector<std::pair<std::string, std::uintptr_t>> result;
  for (const std::string& word : line) {
    const auto equals = word.rfind('=');
    if (equals != std::string::npos) result.emplace_back(word.substr(0, equals), parse_address(word.substr(equals + 1)));
  }
  return result;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// ---------------------------------------------------------------------------
// /proc/PID/smaps of another process.

struct Mapping {
  std::uintptr_t start = 0;
  std::uintptr_t end = 0;
  std::string permissions;
  std::string name;
  std::set<std::string> flags;
  std::size_t rss_kb = 0;
  std::size_t locked_kb = 0;

  std::string describe() const {
    std::ostringstream text;
    text << std::hex << start << "-" << end << std::dec << " " << permissions << " Rss " << rss_kb << " kB, Locked "
         << locked_kb << " kB, VmFlags:";
    for (const std::string& flag : flags) text << " " << flag;
    if (!name.empty()) text << " " << name;
    return text.str();
  }
};

/// "start-end perms ..." header lines of smaps and maps.
bool parse_header(const std::string& line, Mapping* mapping) {
  std::istringstream in(line);
  std::string range, offset, device, inode;
  if (!(in >> range >> mapping->permissions >> offset >> device >> inode)) return false;
  const auto dash = range.find('-');
  if (dash == std::string::npos || range.find_first_not_of("0123456789abcdef-") != std::string::npos) return false;
  mapping->start = parse_address(range.substr(0, dash));
  mapping->end = parse_address(range.substr(dash + 1));
  std::getline(in >> std::ws, mapping->name);
  return true;
}

std::vector<Mapping> smaps_of(pid_t pid) {
  std::ifstream smaps("/proc/" + std::to_string(pid) + "/smaps");
  std::vector<Mapping> mappings;
  for (std::string line; std::getline(smaps, line);) {
    Mapping header;
    if (parse_header(line, &header)) {
      mappings.push_back(header);
      continue;
    }
    if (mappings.empty()) continue;
    std::istringstream in(line);
    std::string field;
    in >> field;
    if (field == "Rss:") in >> mappings.back().rss_kb;
    else if (field == "Locked:") in >> mappings.back().locked_kb;
    else if (field == "VmFlags:") {
      for (std::string flag; in >> flag;) mappings.back().flags.insert(flag);
    }
  }
  return mappings;
}

const Mapping* containing(const std::vector<Mapping>& mappings, std::uintptr_t address) {
  for (const Mapping& mapping : mappings) {
    if (address >= mapping.start && address < mapping.end) return &mapping;
  }
  return nullptr;
}

/// The pool's guarantee for a live block, as the kernel reports it: locked
/// (lo, every resident page counted in Locked) and undumpable (dd).
::testing::AssertionResult LockedAndUndumpable(const std::vector<Mapping>& mappings, std::uintptr_t address) {
  const Mapping* mapping = containing(mappings, address);
  if (mapping == nullptr) return ::testing::AssertionFailure() << "no mapping holds " << std::hex << address;
  if (mapping->flags.count("lo") && mapping->flags.count("dd") && mapping->locked_kb == mapping->rss_kb) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << std::hex << address << " lies in " << mapping->describe();
}

std::string status_field(pid_t pid, const std::string& name) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(name + ":", 0) == 0) {
      const std::string value = line.substr(name.size() + 1);
      const auto first = value.find_first_not_of(" \t");
      return first == std::string::npos ? "" : value.substr(first);
    }
  }
  return "";
}

// ---------------------------------------------------------------------------
// Searching a process's whole memory and a core file.

struct Scan {
  std::vector<std::string> needles;
  std::vector<std::vector<std::string>> hits;  // per needle: where it was found
  std::size_t bytes_read = 0;
  std::size_t bytes_read_without_read_permission = 0;
  std::size_t mappings = 0;
  std::size_t unreadable_ranges = 0;  // [vvar] and the like, which /proc/PID/mem refuses
  std::set<std::string> refused;      // the mappings they were in
  double seconds = 0;

  bool found(std::size_t needle) const { return !hits[needle].empty(); }
  std::string where(std::size_t needle) const {
    std::string text;
    for (const std::string& hit : hits[needle]) text += hit + "; ";
    return text;
  }
  std::string summary() const {
    std::ostringstream text;
    text << bytes_read << " bytes read in " << mappings << " mappings (" << bytes_read_without_read_permission
         << " without read permission), " << unreadable_ranges << " ranges refused";
    for (const std::string& name : refused) text << " " << name;
    text << ", " << seconds << " s";
    return text.str();
  }
};

void search(const char* data, std::size_t size, std::size_t report_below, std::uintptr_t base, const std::string& label,
            Scan* scan) {
  for (std::size_t i = 0; i < scan->needles.size(); ++i) {
    const std::string& needle = scan->needles[i];
    for (const char* at = data;
         (at = static_cast<const char*>(::memmem(at, size - static_cast<std::size_t>(at - data), needle.data(),
                                                 needle.size()))) != nullptr;
         ++at) {
      const auto offset = static_cast<std::size_t>(at - data);
      if (offset >= report_below) break;  // the next chunk, which starts there, reports it
      std::ostringstream hit;
      hit << "0x" << std::hex << base + offset << " " << label;
      if (scan->hits[i].size() < 8) scan->hits[i].push_back(hit.str());
    }
  }
}

/// Reads [start, end) of /proc/PID/mem and searches it; chunks overlap by
/// the longest needle, so that no match falls between two reads.
void scan_range(int mem, std::uintptr_t start, std::uintptr_t end, const Mapping& mapping, std::size_t overlap,
                std::vector<char>& buffer, Scan* scan) {
  const std::size_t chunk = buffer.size() - overlap;
  for (std::uintptr_t at = start; at < end; at += chunk) {
    const std::size_t length = std::min<std::uintptr_t>(end - at, buffer.size());
    const ssize_t got = ::pread(mem, buffer.data(), length, static_cast<off_t>(at));
    if (got != static_cast<ssize_t>(length)) {
      ++scan->unreadable_ranges;
      scan->refused.insert(mapping.name.empty() ? mapping.describe() : mapping.name);
      return;
    }
    const std::size_t fresh = std::min<std::size_t>(length, chunk);
    scan->bytes_read += fresh;
    if (mapping.permissions[0] != 'r') scan->bytes_read_without_read_permission += fresh;
    search(buffer.data(), length, at + chunk < end ? chunk : length, at, mapping.describe(), scan);
  }
}

/// Every page of the process that holds data, in every mapping, readable
/// or not: /proc/PID/pagemap says which pages are present (or swapped out),
/// and /proc/PID/mem reads them (root reads PROT_NONE pages too). Pages that
/// were never touched hold nothing, and are not read: the pool reserves tens
/// of GiB of address space.
Scan scan_memory(pid_t pid, const std::vector<std::string>& needles) {
  const auto started = std::chrono::steady_clock::now();
  Scan scan;
  scan.needles = needles;
  scan.hits.resize(needles.size());
  std::size_t overlap = 1;
  for (const std::string& needle : needles) overlap = std::max(overlap, needle.size());
  const std::string proc = "/proc/" + std::to_string(pid);
  const int mem = ::open((proc + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  const int pagemap = ::open((proc + "/pagemap").c_str(), O_RDONLY | O_CLOEXEC);
  if (mem < 0 || pagemap < 0) {
    ADD_FAILURE() << "cannot open " << proc << "/mem or /pagemap: " << std::strerror(errno);
    if (mem >= 0) ::close(mem);
    if (pagemap >= 0) ::close(pagemap);
    return scan;
  }
  std::vector<char> buffer((4 << 20) + overlap);
  std::vector<std::uint64_t> entries(1 << 16);
  constexpr std::uint64_t kPresentOrSwapped = (std::uint64_t{1} << 63) | (std::uint64_t{1} << 62);
  for (const Mapping& mapping : smaps_of(pid)) {
    ++scan.mappings;
    std::uintptr_t run_start = 0;
    bool in_run = false;
    bool refused = false;
    for (std::uintptr_t page = mapping.start; page < mapping.end && !refused;) {
      const std::size_t count = std::min<std::uintptr_t>(entries.size(), (mapping.end - page) / kPage);
      const auto offset = static_cast<off_t>(page / kPage * sizeof(std::uint64_t));
      const ssize_t got = offset < 0 ? -1 : ::pread(pagemap, entries.data(), count * sizeof(std::uint64_t), offset);
      if (got != static_cast<ssize_t>(count * sizeof(std::uint64_t))) {
        ++scan.unreadable_ranges;  // [vsyscall]: beyond what pagemap covers
        scan.refused.insert(mapping.name.empty() ? mapping.describe() : mapping.name);
        refused = true;
        break;
      }
      for (std::size_t i = 0; i < count; ++i, page += kPage) {
        const bool data = (entries[i] & kPresentOrSwapped) != 0;
        if (data && !in_run) {
          run_start = page;
          in_run = true;
        } else if (!data && in_run) {
          scan_range(mem, run_start, page, mapping, overlap, buffer, &scan);
          in_run = false;
        }
      }
    }
    if (in_run && !refused) scan_range(mem, run_start, mapping.end, mapping, overlap, buffer, &scan);
  }
  ::close(mem);
  ::close(pagemap);
  scan.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "[ scan     ] /proc/" << pid << "/mem: " << scan.summary() << std::endl;
  return scan;
}

Scan scan_file(const std::string& path, const std::vector<std::string>& needles) {
  const auto started = std::chrono::steady_clock::now();
  Scan scan;
  scan.needles = needles;
  scan.hits.resize(needles.size());
  std::ifstream file(path, std::ios::binary);
  const std::string content((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  scan.bytes_read = content.size();
  search(content.data(), content.size(), content.size(), 0, "(file offset)", &scan);
  scan.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "[ scan     ] " << path << ": " << scan.bytes_read << " bytes, " << scan.seconds << " s" << std::endl;
  return scan;
}

using secbits::test::run_command;
using secbits::test::TemporaryDirectory;

std::string read_text(const std::string& path) {
  std::ifstream file(path);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

/// A core file of the running process `pid`, written by gdb's gcore; the
/// process goes on afterwards. Empty (and a failure recorded) if gcore failed.
/// gdb dumps every mapping not marked MADV_DONTDUMP, the pool's PROT_NONE
/// reservation of tens of GiB included: should that mark ever be lost, the
/// core file would grow for minutes. It is cut at 2 GiB and one minute.
std::string take_core_file(pid_t pid, const TemporaryDirectory& directory) {
  constexpr std::size_t kMaxCoreBytes = std::size_t{2} << 30;
  const std::string prefix = directory.path() + "/core";
  const std::string log = directory.path() + "/gcore.log";
  const auto started = std::chrono::steady_clock::now();
  const int status = run_command({SECBITS_TEST_GCORE, "-o", prefix, std::to_string(pid)}, log, kMaxCoreBytes, 60);
  std::cout << "[ gcore    ] " << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()
            << " s" << std::endl;
  const std::string core = prefix + "." + std::to_string(pid);
  struct stat info {};
  const bool written = ::stat(core.c_str(), &info) == 0;
  if (status != 0 || !written || info.st_size == 0) {
    ADD_FAILURE() << "gcore failed (status " << status << ", core file " << (written ? info.st_size : 0)
                  << " bytes): " << read_text(log).substr(0, 2000);
    return "";
  }
  // gdb goes on, and exits 0, when the file size limit stops its writes.
  if (static_cast<std::size_t>(info.st_size) >= kMaxCoreBytes) {
    ADD_FAILURE() << "the core file reached the 2 GiB cut: gdb dumped mappings that should be excluded from core "
                  << "dumps (the pool's reservation has lost MADV_DONTDUMP?)";
    return "";
  }
  return core;
}

// ---------------------------------------------------------------------------
// Secrets.

std::string random_printable(std::size_t size) {
  static std::mt19937_64 generator{std::random_device{}()};
  std::uniform_int_distribution<int> printable('!', '~');
  std::string text(size, ' ');
  for (char& c : text) c = static_cast<char>(printable(generator));
  return text;
}

const std::size_t kSecretSizes[] = {24, 200, 4 << 10, 100 << 10, 3 << 20};

/// Pieces of a secret to search for. The last 8 bytes come first: glibc's
/// free writes its list pointers over the start of a small chunk (up to 16
/// bytes, more for large bins), so the control run can only find the end.
std::vector<std::string> pieces_of(const std::string& secret) {
  const std::size_t n = secret.size();
  std::vector<std::string> pieces = {secret.substr(n - 8), secret.substr(0, std::min<std::size_t>(16, n))};
  if (n >= 64) {
    pieces.push_back(secret.substr(n / 2, 16));
    pieces.push_back(secret.substr(n - 16));
  }
  return pieces;
}

struct Held {
  std::vector<std::string> secrets;
  std::string visible_probe;  // in a readable page of the helper's own: in memory and in a core file
  std::string hidden_probe;   // in a PROT_NONE page of its own: in memory (as root), not in a core file
  std::vector<std::string> needles;
  std::vector<std::size_t> owner;  // needles[i] belongs to secrets[owner[i]]
  std::size_t visible_index = 0;
  std::size_t hidden_index = 0;
};

/// Starts `hold` in `helper`: sends the probes and one secret of each size.
Held hold_secrets(Helper& helper) {
  Held held;
  held.visible_probe = random_printable(32);
  held.hidden_probe = random_printable(32);
  helper.send(held.visible_probe + held.hidden_probe);
  for (std::size_t size : kSecretSizes) {
    held.secrets.push_back(random_printable(size));
    helper.send(held.secrets.back());
  }
  for (std::size_t s = 0; s < held.secrets.size(); ++s) {
    for (const std::string& piece : pieces_of(held.secrets[s])) {
      held.needles.push_back(piece);
      held.owner.push_back(s);
    }
  }
  held.visible_index = held.needles.size();
  held.needles.push_back(held.visible_probe);
  held.hidden_index = held.needles.size();
  held.needles.push_back(held.hidden_probe);
  return held;
}

std::vector<std::string> hold_args() {
  std::vector<std::string> args = {"hold"};
  for (std::size_t size : kSecretSizes) args.push_back(std::to_string(size));
  return args;
}

/// The probes show that a scan works where it found no secret: the hidden
/// one is only readable through /proc/PID/mem in a PROT_NONE page.
void expect_probes_found_in_memory(const Held& held, const Scan& scan) {
  EXPECT_TRUE(scan.found(held.visible_index)) << "the scan misses a readable page: " << scan.summary();
  EXPECT_TRUE(scan.found(held.hidden_index)) << "the scan misses a PROT_NONE page: " << scan.summary();
  EXPECT_GT(scan.bytes_read_without_read_permission, 0u) << scan.summary();
}

/// A scan that found nothing means something only if it read everything:
/// the kernel may refuse only its own special mappings.
void expect_complete(const Scan& scan) {
  for (const std::string& name : scan.refused) {
    EXPECT_TRUE(name == "[vvar]" || name == "[vsyscall]" || name == "[vvar_vclock]")
        << "the scan could not read " << name;
  }
}

void expect_no_secret(const Held& held, const Scan& scan, const std::string& where) {
  for (std::size_t i = 0; i < held.visible_index; ++i) {
    EXPECT_FALSE(scan.found(i)) << "bytes of the " << held.secrets[held.owner[i]].size() << "-byte secret found in "
                                << where << " at " << scan.where(i);
  }
}

// ---------------------------------------------------------------------------
// The tests.

TEST(PreloadedProcess, HeapBlocksFromEveryPathAreLockedAndUndumpable) {
  Helper helper({{"heap"}});
  const auto line = words(helper.line());
  ASSERT_FALSE(line.empty()) << describe(helper.finish());
  ASSERT_EQ(line[0], "heap") << describe(helper.finish());
  const auto blocks = named_addresses(line);
  ASSERT_GE(blocks.size(), 14u);
  const std::vector<Mapping> mappings = smaps_of(helper.pid());
  for (const auto& [name, address] : blocks) EXPECT_TRUE(LockedAndUndumpable(mappings, address)) << name;
  helper.send("q");
  const Ending ending = helper.finish();
  EXPECT_TRUE(ending.exited && ending.code == 0) << describe(ending);
}

TEST(PreloadedProcess, LiveSecretsAreInMemoryButNotInACoreFile) {
  TemporaryDirectory directory;
  Helper helper{Spawn(hold_args())};
  const Held held = hold_secrets(helper);
  const auto line = words(helper.line());
  ASSERT_TRUE(!line.empty() && line[0] == "held") << describe(helper.finish());

  // The scan finds every live secret: it reads the pool's pages.
  const Scan memory = scan_memory(helper.pid(), held.needles);
  for (std::size_t i = 0; i < held.visible_index; ++i) {
    EXPECT_TRUE(memory.found(i)) << "live " << held.secrets[held.owner[i]].size()
                                 << "-byte secret not found in /proc/PID/mem: " << memory.summary();
  }
  expect_probes_found_in_memory(held, memory);

  const std::string core_path = take_core_file(helper.pid(), directory);
  ASSERT_FALSE(core_path.empty());
  const Scan core = scan_file(core_path, held.needles);
  EXPECT_TRUE(core.found(held.visible_index)) << "the core file lacks an ordinary page: " << core.bytes_read << " bytes";
  expect_no_secret(held, core, "the core file");
  // The pool's bookkeeping is excluded too: it holds no secret, but it is
  // hundreds of MiB of untouched zeros that gcore would write out (~290 MiB
  // per core before). The helper's own memory is a few MiB.
  struct stat core_file {};
  ASSERT_EQ(::stat(core_path.c_str(), &core_file), 0);
  EXPECT_LT(core_file.st_size, 32 << 20) << "the core file of a small process under the interposer";

  helper.send("q");
  const Ending ending = helper.finish();
  EXPECT_TRUE(ending.exited && ending.code == 0) << describe(ending);
}

TEST(PreloadedProcess, FreedSecretsAreGoneFromMemoryAndFromACoreFile) {
  TemporaryDirectory directory;
  Helper helper{Spawn(hold_args())};
  const Held held = hold_secrets(helper);
  auto line = words(helper.line());
  ASSERT_TRUE(!line.empty() && line[0] == "held") << describe(helper.finish());
  helper.send("f");
  ASSERT_EQ(helper.line(), "freed") << describe(helper.finish());

  const Scan memory = scan_memory(helper.pid(), held.needles);
  expect_no_secret(held, memory, "/proc/PID/mem");
  expect_probes_found_in_memory(held, memory);
  expect_complete(memory);

  const std::string core_path = take_core_file(helper.pid(), directory);
  ASSERT_FALSE(core_path.empty());
  const Scan core = scan_file(core_path, held.needles);
  EXPECT_TRUE(core.found(held.visible_index)) << "the core file lacks an ordinary page";
  expect_no_secret(held, core, "the core file");

  helper.send("q");
  const Ending ending = helper.finish();
  EXPECT_TRUE(ending.exited && ending.code == 0) << describe(ending);
}

// The control: the same program without the interposer keeps its freed
// secrets in memory (glibc's free leaves the bytes), and a core file of it
// holds its live ones; so the scans above can find what is there. glibc is
// told to keep even the 3 MiB block in its heap instead of unmapping it at
// free (mmap_threshold), and not to give the top of the heap back
// (trim_threshold): otherwise the kernel, not glibc, would erase it.
TEST(PlainProcess, KeepsFreedSecretsInMemoryAndLiveOnesInACoreFile) {
  TemporaryDirectory directory;
  Helper helper({hold_args(), false,
                 {"GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296"}});
  const Held held = hold_secrets(helper);
  auto line = words(helper.line());
  ASSERT_TRUE(!line.empty() && line[0] == "held") << describe(helper.finish());

  const std::string core_path = take_core_file(helper.pid(), directory);
  ASSERT_FALSE(core_path.empty());
  const Scan core = scan_file(core_path, held.needles);
  for (std::size_t i = 0; i < held.visible_index; ++i) {
    EXPECT_TRUE(core.found(i)) << "live " << held.secrets[held.owner[i]].size()
                               << "-byte secret of a plain process not found in its core file";
  }

  helper.send("f");
  ASSERT_EQ(helper.line(), "freed") << describe(helper.finish());
  const Scan memory = scan_memory(helper.pid(), held.needles);
  expect_probes_found_in_memory(held, memory);
  for (std::size_t s = 0; s < held.secrets.size(); ++s) {
    // The first needle of each secret is its last 8 bytes (pieces_of).
    const auto first = static_cast<std::size_t>(std::find(held.owner.begin(), held.owner.end(), s) - held.owner.begin());
    EXPECT_TRUE(memory.found(first)) << "the end of the freed " << held.secrets[s].size()
                                     << "-byte secret is not in the plain process's memory: " << memory.summary();
  }
  helper.send("q");
  const Ending ending = helper.finish();
  EXPECT_TRUE(ending.exited && ending.code == 0) << describe(ending);
}

// A freed large block is PROT_NONE at once under the eager policy and from
// hardening level 2: the kernel refuses to copy a single byte of it (write()
// to a pipe fails with EFAULT on every page). Under the default it waits
// open, wiped (the pool's tests).
TEST(PreloadedProcess, FreedLargeBlocksFaultWhenReadUnderEagerProtectionAndFromLevel2) {
  for (const char* setting : {"SECBITS_PROTECT=eager", "SECBITS_HARDEN=2"}) {
    Helper helper({{"efault", std::to_string((64 << 10) + 1), std::to_string(128 << 10), std::to_string(3 << 20)},
                   true,
                   {setting}});
    const Ending ending = helper.finish();
    EXPECT_TRUE(ending.exited && ending.code == 0) << setting << ": " << describe(ending);
    EXPECT_EQ(lines_of(ending.out).size(), 3u) << setting << ": " << describe(ending);
  }
}

// Under SECBITS_PROTECT=eager the pages a small block leaves empty close on
// the free that empties them: a 3-page block of a slab faults as well.
TEST(PreloadedProcess, FreedSmallMultiPageBlockFaultsUnderEagerProtection) {
  Helper helper({{"efault", std::to_string(12 << 10)}, true, {"SECBITS_PROTECT=eager"}});
  const Ending ending = helper.finish();
  EXPECT_TRUE(ending.exited && ending.code == 0) << describe(ending);
}

// The kernel does not hand memory locks down to a forked child: the
// interposer locks the child's pool again, both the blocks it inherited
// (once written, they are the child's own pages) and those it allocates.
TEST(PreloadedProcess, ForkedChildHeapIsLockedAgain) {
  Helper helper({{"fork"}});
  const auto line = words(helper.line());
  ASSERT_TRUE(line.size() == 6 && line[0] == "child") << describe(helper.finish());
  const pid_t child = static_cast<pid_t>(std::stol(line[1]));
  ASSERT_NE(child, helper.pid());
  const std::vector<Mapping> mappings = smaps_of(child);
  // The child locks on touch (MLOCK_ONFAULT): its mappings are VM_LOCKED
  // (lo), but smaps counts Locked proportionally, and the pages it has not
  // written are still shared with the parent, which keeps them locked.
  for (const auto& [name, address] : named_addresses(line)) {
    const Mapping* mapping = containing(mappings, address);
    ASSERT_NE(mapping, nullptr) << name;
    EXPECT_TRUE(mapping->flags.count("lo") && mapping->flags.count("dd")) << "in the child: " << name << " lies in "
                                                                          << mapping->describe();
  }
  helper.send("q");
  const Ending ending = helper.finish();
  EXPECT_TRUE(ending.exited && ending.code == 0) << describe(ending);
}

// ---------------------------------------------------------------------------
// The lock budget. CI runs as root, and root ignores RLIMIT_MEMLOCK: the
// helper is started without CAP_IPC_LOCK (dropped from the bounding set too,
// or exec would give it back to root) and with Debian's default limit.

constexpr std::size_t kLockBudget = 8 << 20;
constexpr int kBlocksOf64KiB = 512;  // 32 MiB: four times the budget

bool drop_lock_capability_for_exec() {
  return ::prctl(PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0) == 0 &&
         ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == 0 &&
         secbits::test::drop_lock_privilege(kLockBudget);
}

struct Exhaustion {
  std::size_t served = 0;
  int error = 0;
  std::uintptr_t last = 0;
  std::vector<Mapping> mappings;  // while the blocks are held
  std::string recovered;
  Ending ending;
};

/// Runs lock-exhaust under the reduced budget with `environment`.
Exhaustion exhaust_lock_budget(const std::vector<std::string>& environment) {
  Exhaustion result;
  Helper helper({{"lock-exhaust", std::to_string(kBlocksOf64KiB)}, true, environment, drop_lock_capability_for_exec});
  const auto line = words(helper.line());
  if (line.size() != 6 || line[0] != "served") {
    result.ending = helper.finish();
    ADD_FAILURE() << "lock-exhaust did not report: " << describe(result.ending);
    return result;
  }
  // The setting the test relies on, read back from the kernel.
  const std::string capabilities = status_field(helper.pid(), "CapEff");
  EXPECT_EQ(std::strtoull(capabilities.c_str(), nullptr, 16) & (1ull << CAP_IPC_LOCK), 0u) << "CapEff " << capabilities;
  result.served = std::stoul(line[1]);
  result.error = std::stoi(line[3]);
  result.last = parse_address(line[5].substr(line[5].find('=') + 1));
  result.mappings = smaps_of(helper.pid());
  std::cout << "[ budget   ] " << result.served << " of " << kBlocksOf64KiB << " blocks of 64 KiB served (errno "
            << result.error << "), VmLck " << status_field(helper.pid(), "VmLck") << std::endl;
  helper.send("q");
  result.recovered = helper.line();
  result.ending = helper.finish();
  return result;
}

std::size_t count_lines_containing(const std::string& text, const std::string& part) {
  std::size_t count = 0;
  for (const std::string& line : lines_of(text)) count += line.find(part) != std::string::npos;
  return count;
}

TEST(PreloadedProcess, StrictLockPolicyFailsWithEnomemOnceTheBudgetIsSpent) {
  const Exhaustion run = exhaust_lock_budget({"SECBITS_LOCK=strict"});
  EXPECT_GT(run.served, 0u);
  EXPECT_LT(run.served, static_cast<std::size_t>(kBlocksOf64KiB)) << "32 MiB served and locked under an 8 MiB budget";
  EXPECT_EQ(run.error, ENOMEM);
  // What strict served is locked; it never serves unlocked memory.
  EXPECT_TRUE(LockedAndUndumpable(run.mappings, run.last)) << "the last block served";
  // Freeing gives the budget back: the program goes on.
  EXPECT_EQ(run.recovered, "recovered 1");
  EXPECT_TRUE(run.ending.exited && run.ending.code == 0) << describe(run.ending);
  EXPECT_EQ(count_lines_containing(run.ending.err, "lock policy is degrade"), 0u) << run.ending.err;
}

void expect_degraded_with_one_warning(const Exhaustion& run) {
  EXPECT_EQ(run.served, static_cast<std::size_t>(kBlocksOf64KiB)) << "errno " << run.error;
  // Beyond the budget: not locked, still undumpable.
  const Mapping* last = containing(run.mappings, run.last);
  ASSERT_NE(last, nullptr);
  EXPECT_FALSE(last->flags.count("lo")) << last->describe();
  EXPECT_TRUE(last->flags.count("dd")) << last->describe();
  EXPECT_EQ(run.recovered, "recovered 1");
  EXPECT_TRUE(run.ending.exited && run.ending.code == 0) << describe(run.ending);
  EXPECT_EQ(count_lines_containing(run.ending.err, "lock policy is degrade"), 1u) << run.ending.err;
  for (const std::string& line : lines_of(run.ending.err)) {
    if (line.find("lock policy is degrade") != std::string::npos) {
      EXPECT_EQ(line.rfind("secbits: mlock of ", 0), 0u) << line;
    }
  }
}

TEST(PreloadedProcess, DegradeIsTheDefaultLockPolicyAndWarnsOnce) {
  const Exhaustion run = exhaust_lock_budget({});
  expect_degraded_with_one_warning(run);
  EXPECT_EQ(lines_of(run.ending.err).size(), 1u) << run.ending.err;
}

TEST(PreloadedProcess, DegradeLockPolicyServesUnlockedMemoryAndWarnsOnce) {
  const Exhaustion run = exhaust_lock_budget({"SECBITS_LOCK=degrade"});
  expect_degraded_with_one_warning(run);
  EXPECT_EQ(lines_of(run.ending.err).size(), 1u) << run.ending.err;
}

// A bad value is named once, with the default used instead, and the default
// is what the program then gets: under the reduced budget it degrades.
TEST(PreloadedProcess, BadOptionValueIsReportedOnceAndTheDefaultApplies) {
  const Exhaustion run = exhaust_lock_budget({"SECBITS_LOCK=bogus"});
  const auto lines = lines_of(run.ending.err);
  ASSERT_EQ(count_lines_containing(run.ending.err, "SECBITS_LOCK"), 1u) << run.ending.err;
  for (const std::string& line : lines) {
    if (line.find("SECBITS_LOCK") == std::string::npos) continue;
    EXPECT_EQ(line.rfind("secbits: ", 0), 0u) << line;
    EXPECT_NE(line.find("bogus"), std::string::npos) << line;
    EXPECT_NE(line.find("degrade"), std::string::npos) << "the default used is not named: " << line;
  }
  expect_degraded_with_one_warning(run);
  EXPECT_EQ(lines.size(), 2u) << run.ending.err;
}

// ---------------------------------------------------------------------------
// Hardening: the process dies on the spot, with one line naming the address.

std::string reported_pointer(Helper& helper) {
  const auto line = words(helper.line());
  return line.size() == 2 && line[0] == "pointer" ? line[1] : "";
}

TEST(PreloadedProcess, DoubleFreeAbortsWithOneLineNamingTheAddress) {
  for (std::size_t size : {std::size_t{64}, std::size_t{100 << 10}}) {
    Helper helper({{"double-free", std::to_string(size)}});
    const std::string pointer = reported_pointer(helper);
    const Ending ending = helper.finish();
    ASSERT_FALSE(pointer.empty()) << describe(ending);
    EXPECT_EQ(ending.signal, SIGABRT) << size << " bytes: " << describe(ending);
    EXPECT_EQ(ending.out, "") << "the program went on after the double free";
    EXPECT_EQ(ending.err, "secbits: double free " + pointer + "\n") << size << " bytes";
  }
}

// realloc and malloc_usable_size of a freed block are uses after free; a
// realloc within the block's size class used to give the freed block back.
TEST(PreloadedProcess, ReallocAndUsableSizeOfAFreedBlockAbortWithOneLineNamingTheAddress) {
  struct Case {
    const char* mode;
    const char* message;
  };
  for (const Case& use : {Case{"realloc-freed", "realloc of a freed block"},
                          Case{"usable-freed", "usable size asked of a freed block"}}) {
    for (std::size_t size : {std::size_t{64}, std::size_t{100 << 10}}) {
      Helper helper({{use.mode, std::to_string(size)}});
      const std::string pointer = reported_pointer(helper);
      const Ending ending = helper.finish();
      ASSERT_FALSE(pointer.empty()) << describe(ending);
      EXPECT_EQ(ending.signal, SIGABRT) << use.mode << " " << size << " bytes: " << describe(ending);
      EXPECT_EQ(ending.out, "") << "the program went on after " << use.mode;
      EXPECT_EQ(ending.err, std::string("secbits: ") + use.message + " " + pointer + "\n") << size << " bytes";
    }
  }
}

TEST(PreloadedProcess, FreeOfAStackAddressAbortsWithOneLineNamingTheAddress) {
  Helper helper({{"stack-free"}});
  const std::string pointer = reported_pointer(helper);
  const Ending ending = helper.finish();
  ASSERT_FALSE(pointer.empty()) << describe(ending);
  EXPECT_EQ(ending.signal, SIGABRT) << describe(ending);
  EXPECT_EQ(ending.out, "") << "the program went on after the invalid free";
  const auto lines = lines_of(ending.err);
  ASSERT_EQ(lines.size(), 1u) << ending.err;
  EXPECT_EQ(lines[0].rfind("secbits: invalid free", 0), 0u) << lines[0];
  const std::string suffix = " " + pointer;
  EXPECT_TRUE(lines[0].size() > suffix.size() &&
              lines[0].compare(lines[0].size() - suffix.size(), suffix.size(), suffix) == 0)
      << lines[0] << " does not end with the address " << pointer;
}

}  // namespace
