// The secret page source (memfd_secret) watched from outside and from inside.
// Outside: root in another process cannot read a live secret of the pool
// through /proc/PID/mem, process_vm_readv or ptrace, where it reads the same
// secret under the anonymous source; a core file holds it under neither.
// Inside: every guarantee the anonymous source gives still holds on secret
// pages (locked and undumpable mappings, wipe on free, closed pages, the
// mapping bound, the lock budget, fork, munlockall), and a kernel without
// secret memory is handled as documented.
//
// The source is chosen before the pool's first allocation, so each test runs
// its pool in a forked child of a test process that never touched the pool
// (injection/fresh_pool.hpp): this binary must stay free of tests that
// allocate from the pool in the test process itself. A child reports the
// first broken expectation on stdout and exits 1.
#include <secbits/error.hpp>
#include <secbits/pool.hpp>
#include <secbits/secbits.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <elf.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <thread>
#include <vector>

#include "injection/fresh_pool.hpp"
#include "os/injection.hpp"
#include "support/child.hpp"
#include "support/command.hpp"
#include "support/lock_budget.hpp"
#include "support/probe.hpp"
#include "support/secret_memory.hpp"
#include "support/smaps.hpp"

namespace {

using secbits::test::broken;
using secbits::test::ChildResult;
using secbits::test::page_size;
using secbits::test::run_with_fresh_pool;

constexpr std::size_t kSecretBytes = 32;
constexpr std::size_t kLargeBlock = std::size_t{1} << 20;
constexpr unsigned char kSecretByte = 0xA5;

using Bytes = std::array<std::byte, kSecretBytes>;

std::uintptr_t address_of(const void* pointer) { return reinterpret_cast<std::uintptr_t>(pointer); }
const void* pointer_at(std::uintptr_t address) { return reinterpret_cast<const void*>(address); }

std::string hex(std::uintptr_t value) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%lx", static_cast<unsigned long>(value));
  return text;
}

std::string describe(const ChildResult& result) {
  return (result.exited ? "exit status " + std::to_string(result.exit_code)
                        : "killed by signal " + std::to_string(result.term_signal)) +
         "; output:\n" + result.output;
}

void expect_passed(const ChildResult& result) {
  EXPECT_TRUE(result.exited && result.exit_code == 0) << describe(result);
}

/// Lines of `output` that contain `text`.
std::size_t lines_containing(const std::string& output, const std::string& text) {
  std::size_t count = 0;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) count += line.find(text) != std::string::npos ? 1 : 0;
  return count;
}

// Every test here needs a kernel with secret memory; only a kernel without
// it (ENOSYS) is a reason to skip.
class SecretSource : public ::testing::Test {
 protected:
  void SetUp() override {
    const int error = secbits::test::secret_memory_error();
    if (error == ENOSYS) GTEST_SKIP() << "this kernel has no secret memory (memfd_secret: ENOSYS)";
    ASSERT_EQ(error, 0) << "memfd_secret refused: " << std::strerror(error);
  }
};

// ---------------------------------------------------------------- in a child

/// In a child with a fresh pool: takes `source` or says why it could not.
std::string use_source(secbits_page_source source) {
  if (secbits_set_page_source(source) != 0) {
    return std::string("secbits_set_page_source failed: ") + std::strerror(errno);
  }
  return {};
}

/// Touches every page of [pointer, pointer + size), as a secret written
/// there would: only touched pages are resident and count in Rss/Locked.
void touch(void* pointer, std::size_t size) {
  const std::uintptr_t end = address_of(pointer) + size;
  for (std::uintptr_t at = address_of(pointer); at < end; at = (at | (page_size() - 1)) + 1) {
    auto* byte = reinterpret_cast<volatile unsigned char*>(at);
    *byte = *byte;
  }
}

/// Every mapping [pointer, pointer + size) touches is a secret file mapped
/// shared, locked (lo, and Locked = Rss) and undumpable (dd). "" if so.
std::string secret_mapping_problem(void* pointer, std::size_t size, const std::string& what) {
  touch(pointer, size);
  const auto mappings = secbits::test::all_mappings();
  for (std::uintptr_t at = address_of(pointer); at < address_of(pointer) + size;) {
    const auto* mapping = secbits::test::find_mapping(mappings, pointer_at(at));
    if (mapping == nullptr) return what + ": no mapping at " + hex(at);
    const std::string where = what + ": mapping " + hex(mapping->start) + "-" + hex(mapping->end) + " (" +
                              (mapping->path.empty() ? "anonymous" : mapping->path) + ", " + mapping->permissions + ")";
    if (!mapping->is_secret_memory()) return where + " is not secret memory";
    if (mapping->permissions != "rw-s") return where + " is not read-write shared";
    if (!mapping->has_flag("lo")) return where + " is not locked (no lo)";
    if (!mapping->has_flag("dd")) return where + " would be in a core dump (no dd)";
    if (mapping->rss_kb == 0 || mapping->locked_kb != mapping->rss_kb) {
      return where + ": Locked " + std::to_string(mapping->locked_kb) + " kB of Rss " + std::to_string(mapping->rss_kb);
    }
    at = mapping->end;
  }
  return {};
}

/// What a forked child of this process gets reading the byte at `address`:
/// "zero", "data", or "signal N" for the signal that killed it.
std::string read_in_child(const void* address) {
  const ChildResult result = secbits::test::run_in_child(
      [address] { return *static_cast<const volatile unsigned char*>(address) == 0 ? 0 : 1; });
  if (!result.exited) return "signal " + std::to_string(result.term_signal);
  return result.exit_code == 0 ? "zero" : result.exit_code == 1 ? "data" : "exit status " + std::to_string(result.exit_code);
}

const std::string kFault = "signal " + std::to_string(SIGSEGV);

/// Mappings of this process that lie in the pool's reserved range.
std::size_t pool_mapping_count() {
  std::size_t count = 0;
  for (const auto& [start, end] : secbits::test::mapping_ranges()) {
    count += secbits_owns(pointer_at(start)) || secbits_owns(pointer_at(end - 1)) ? 1 : 0;
  }
  return count;
}

// ---------------------------------------------------------------- an owner of secrets, seen from outside

/// One secret of the owner: where it lies and what it is.
struct Secret {
  std::string what;
  std::uintptr_t address = 0;
  Bytes bytes{};
};

/// A process holding secrets in its pool, for this one (root, not the owner)
/// to try to read. A forked child takes `source`, allocates a 32-byte and a
/// 1 MiB block, fills 32 bytes of the small one and 32 at each end of the
/// large one with getrandom(), and waits. It sends them with write() straight
/// out of the blocks, so it holds them nowhere else: a scan of its memory or
/// of its core file can only find them in the pool. A fourth 32 bytes lie in
/// an ordinary malloc block: the control, which any reader finds.
class SecretOwner {
 public:
  explicit SecretOwner(secbits_page_source source) {
    int report[2];
    int command[2];
    if (::pipe(report) != 0 || ::pipe(command) != 0) std::abort();
    std::fflush(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) std::abort();
    if (pid_ == 0) {
      ::close(report[0]);
      ::close(command[1]);
      ::_exit(hold(source, report[1], command[0]));
    }
    ::close(report[1]);
    ::close(command[0]);
    command_ = command[1];
    receive(report[0]);
    ::close(report[0]);
  }

  ~SecretOwner() { finish(); }
  SecretOwner(const SecretOwner&) = delete;
  SecretOwner& operator=(const SecretOwner&) = delete;

  pid_t pid() const { return pid_; }
  /// Why the owner could not hold its secrets; "" once it does.
  const std::string& error() const { return error_; }
  const std::vector<Secret>& secrets() const { return secrets_; }
  const Secret& control() const { return control_; }

  /// Lets the owner free its blocks and exit; its exit status, or -1.
  int finish() {
    if (pid_ <= 0) return status_;
    ::close(command_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = 0;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return status_;
  }

 private:
  struct Report {
    std::uintptr_t addresses[4];
    char error[240];
  };

  static int hold(secbits_page_source source, int report_fd, int command_fd) {
    Report report{};
    const auto fail = [&](const std::string& why) {
      std::snprintf(report.error, sizeof report.error, "%s", why.c_str());
      [[maybe_unused]] const ssize_t ignored = ::write(report_fd, &report, sizeof report);
      return 1;
    };
    if (const std::string problem = use_source(source); !problem.empty()) return fail(problem);
    auto* small = static_cast<std::byte*>(secbits_malloc(kSecretBytes));
    auto* large = static_cast<std::byte*>(secbits_malloc(kLargeBlock));
    auto* ordinary = static_cast<std::byte*>(std::malloc(4096));
    if (small == nullptr || large == nullptr || ordinary == nullptr) return fail("allocation failed");
    std::byte* places[4] = {small, large, large + kLargeBlock - kSecretBytes, ordinary};
    for (std::byte* place : places) {
      if (::getrandom(place, kSecretBytes, 0) != static_cast<ssize_t>(kSecretBytes)) return fail("getrandom failed");
    }
    for (int i = 0; i < 4; ++i) report.addresses[i] = address_of(places[i]);
    if (::write(report_fd, &report, sizeof report) != sizeof report) return 2;
    for (std::byte* place : places) {
      if (::write(report_fd, place, kSecretBytes) != static_cast<ssize_t>(kSecretBytes)) return 2;
    }
    ::close(report_fd);
    char byte = 0;
    while (::read(command_fd, &byte, 1) < 0 && errno == EINTR) {
    }
    secbits_free(small);
    secbits_free(large);
    std::free(ordinary);
    return 0;
  }

  static bool read_all(int fd, void* out, std::size_t size) {
    auto* at = static_cast<char*>(out);
    while (size > 0) {
      const ssize_t got = ::read(fd, at, size);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return false;
      at += got;
      size -= static_cast<std::size_t>(got);
    }
    return true;
  }

  void receive(int fd) {
    Report report{};
    if (!read_all(fd, &report, sizeof report)) {
      error_ = "the owner ended before it reported";
      return;
    }
    if (report.error[0] != '\0') {
      error_ = report.error;
      return;
    }
    const char* names[] = {"32-byte block", "start of a 1 MiB block", "end of a 1 MiB block", "malloc block"};
    for (int i = 0; i < 4; ++i) {
      Secret secret{names[i], report.addresses[i], {}};
      if (!read_all(fd, secret.bytes.data(), kSecretBytes)) {
        error_ = "the owner ended before it sent its secrets";
        return;
      }
      if (i < 3) secrets_.push_back(secret);
      else control_ = secret;
    }
  }

  pid_t pid_ = 0;
  int command_ = -1;
  int status_ = -1;
  std::string error_;
  std::vector<Secret> secrets_;
  Secret control_;
};

/// What one way of reading another process's memory got.
struct Attempt {
  bool read = false;
  int error = 0;
  Bytes bytes{};

  bool got(const Bytes& secret) const { return read && bytes == secret; }
  std::string describe() const {
    return read ? (bytes == Bytes{} ? "read zeros" : "read bytes") : std::string("failed: ") + std::strerror(error);
  }
};

Attempt read_through_proc_mem(pid_t pid, std::uintptr_t address) {
  Attempt attempt;
  const int fd = ::open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    attempt.error = errno;
    return attempt;
  }
  const ssize_t got = ::pread(fd, attempt.bytes.data(), kSecretBytes, static_cast<off_t>(address));
  attempt.error = got < 0 ? errno : 0;
  attempt.read = got == static_cast<ssize_t>(kSecretBytes);
  ::close(fd);
  return attempt;
}

Attempt read_through_process_vm_readv(pid_t pid, std::uintptr_t address) {
  Attempt attempt;
  iovec local{attempt.bytes.data(), kSecretBytes};
  iovec remote{reinterpret_cast<void*>(address), kSecretBytes};
  const ssize_t got = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
  attempt.error = got < 0 ? errno : 0;
  attempt.read = got == static_cast<ssize_t>(kSecretBytes);
  return attempt;
}

/// PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_PEEKDATA word by word, detach.
Attempt read_through_ptrace(pid_t pid, std::uintptr_t address) {
  Attempt attempt;
  if (::ptrace(PTRACE_SEIZE, pid, nullptr, nullptr) != 0) {
    attempt.error = errno;
    return attempt;
  }
  int status = 0;
  if (::ptrace(PTRACE_INTERRUPT, pid, nullptr, nullptr) != 0 || ::waitpid(pid, &status, __WALL) != pid) {
    attempt.error = errno;
    ::ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
    return attempt;
  }
  attempt.read = true;
  for (std::size_t offset = 0; offset < kSecretBytes; offset += sizeof(long)) {
    errno = 0;  // -1 is a word like any other: only errno tells a failure
    const long word = ::ptrace(PTRACE_PEEKDATA, pid, reinterpret_cast<void*>(address + offset), nullptr);
    if (errno != 0) {
      attempt.read = false;
      attempt.error = errno;
      break;
    }
    std::memcpy(attempt.bytes.data() + offset, &word, sizeof word);
  }
  ::ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
  return attempt;
}

struct Reader {
  const char* name;
  Attempt (*read)(pid_t, std::uintptr_t);
};
constexpr Reader kReaders[] = {{"pread of /proc/PID/mem", read_through_proc_mem},
                               {"process_vm_readv", read_through_process_vm_readv},
                               {"ptrace(PTRACE_SEIZE) + PTRACE_PEEKDATA", read_through_ptrace}};

// The control proves that each reader works on this very owner: a reader
// that read nothing anywhere would pass the secret source's test.
void expect_readers_read_the_control(const SecretOwner& owner) {
  for (const Reader& reader : kReaders) {
    const Attempt attempt = reader.read(owner.pid(), owner.control().address);
    EXPECT_TRUE(attempt.got(owner.control().bytes))
        << reader.name << " of the owner's ordinary malloc block " << attempt.describe();
  }
}

class SecretFromOutside : public SecretSource {};

TEST_F(SecretFromOutside, RootInAnotherProcessCannotReadALiveSecret) {
  SecretOwner owner(SECBITS_SOURCE_SECRET);
  ASSERT_EQ(owner.error(), "");
  expect_readers_read_the_control(owner);
  for (const Secret& secret : owner.secrets()) {
    for (const Reader& reader : kReaders) {
      const Attempt attempt = reader.read(owner.pid(), secret.address);
      std::cout << "[ reader   ] secret source, " << secret.what << ", " << reader.name << ": " << attempt.describe()
                << std::endl;
      EXPECT_FALSE(attempt.got(secret.bytes)) << reader.name << " read the secret in the " << secret.what << " at "
                                               << hex(secret.address);
      EXPECT_FALSE(attempt.read) << reader.name << " of the " << secret.what << " " << attempt.describe();
    }
  }
  EXPECT_EQ(owner.finish(), 0);
}

// The same readers read the same secrets under the anonymous source: what
// the test above sees is the source's doing, not the readers' failure.
TEST_F(SecretFromOutside, UnderTheAnonymousSourceRootReadsTheSameSecret) {
  SecretOwner owner(SECBITS_SOURCE_ANONYMOUS);
  ASSERT_EQ(owner.error(), "");
  expect_readers_read_the_control(owner);
  for (const Secret& secret : owner.secrets()) {
    for (const Reader& reader : kReaders) {
      const Attempt attempt = reader.read(owner.pid(), secret.address);
      EXPECT_TRUE(attempt.got(secret.bytes))
          << reader.name << " of the " << secret.what << " at " << hex(secret.address) << " " << attempt.describe();
    }
  }
  EXPECT_EQ(owner.finish(), 0);
}

// ---------------------------------------------------------------- the pool's range, as another process sees it

/// A process's pool: the reserved range its marker mapping names
/// ("/memfd:secbits-pool:0x<start>-0x<end> (deleted)"), and the process's
/// secret mappings.
struct PoolRange {
  std::uintptr_t start = 0;
  std::uintptr_t end = 0;
  std::vector<secbits::test::Mapping> secret_mappings;  // /secretmem, wherever they are
};

PoolRange pool_of(pid_t pid) {
  PoolRange pool;
  constexpr std::string_view kMarker = "/memfd:secbits-pool:";
  for (const auto& mapping : secbits::test::all_mappings_of(pid)) {
    if (mapping.is_secret_memory()) pool.secret_mappings.push_back(mapping);
    if (mapping.path.rfind(kMarker, 0) != 0) continue;
    const std::string range = mapping.path.substr(kMarker.size());
    pool.start = std::strtoull(range.c_str(), nullptr, 16);
    const auto dash = range.find('-');
    if (dash != std::string::npos) pool.end = std::strtoull(range.c_str() + dash + 1, nullptr, 16);
  }
  return pool;
}

/// The pool's reserved range must stay mapped end to end (the reservation,
/// and what is committed in it): a hole is address space the kernel may give
/// the program's next mmap, which a later commit (MAP_FIXED) would then
/// replace. A MAP_FIXED mmap the kernel refuses leaves such a hole where the
/// reservation was. "" if there is none.
std::string reservation_hole() {
  const PoolRange pool = pool_of(::getpid());
  if (pool.start == 0) return "the pool's marker mapping was not found";
  const auto hole = [&pool](std::uintptr_t from, std::uintptr_t to) {
    return "nothing is mapped at " + hex(from) + "-" + hex(to) + " inside the pool's reserved range " +
           hex(pool.start) + "-" + hex(pool.end);
  };
  std::uintptr_t covered = pool.start;
  for (const auto& [start, end] : secbits::test::mapping_ranges()) {
    if (end <= covered) continue;
    if (start >= pool.end) break;
    if (start > covered) return hole(covered, start);
    covered = end;
  }
  return covered >= pool.end ? std::string() : hole(covered, pool.end);
}

// ---------------------------------------------------------------- core files

// Not in sanitizer builds: their runtimes map terabytes of shadow memory that
// gdb dumps (the core file passes the 2 GiB cut), and a plain build's core
// file is what a user's program would write.
#ifndef SECBITS_TEST_SANITIZED

using secbits::test::run_command;
using secbits::test::TemporaryDirectory;

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

/// [start, end) of the memory a core file holds: its PT_LOAD segments'
/// addresses, as far as their contents are in the file.
std::vector<std::pair<std::uintptr_t, std::uintptr_t>> dumped_ranges(const std::string& core, std::string* problem) {
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> ranges;
  Elf64_Ehdr header{};
  if (core.size() < sizeof header) {
    *problem = "the core file is shorter than an ELF header";
    return ranges;
  }
  std::memcpy(&header, core.data(), sizeof header);
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64 ||
      header.e_type != ET_CORE || header.e_phentsize != sizeof(Elf64_Phdr)) {
    *problem = "the core file is not a 64-bit ELF core";
    return ranges;
  }
  for (std::size_t i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr segment{};
    const std::size_t at = header.e_phoff + i * sizeof segment;
    if (at + sizeof segment > core.size()) {
      *problem = "the core file's program headers are cut off";
      return ranges;
    }
    std::memcpy(&segment, core.data() + at, sizeof segment);
    if (segment.p_type == PT_LOAD && segment.p_filesz != 0) {
      ranges.emplace_back(segment.p_vaddr, segment.p_vaddr + segment.p_filesz);
    }
  }
  return ranges;
}

/// A core file of the running process `pid` written by gdb's gcore, or ""
/// with a failure recorded. Cut at 2 GiB: should the pool's reservation lose
/// MADV_DONTDUMP, gdb would write tens of GiB of it.
std::string take_core_file(pid_t pid, const TemporaryDirectory& directory) {
  constexpr std::size_t kMaxCoreBytes = std::size_t{2} << 30;
  const std::string prefix = directory.path() + "/core";
  const std::string log = directory.path() + "/gcore.log";
  const int status = run_command({SECBITS_TEST_GCORE, "-o", prefix, std::to_string(pid)}, log, kMaxCoreBytes, 90);
  const std::string core = prefix + "." + std::to_string(pid);
  struct stat info {};
  const bool written = ::stat(core.c_str(), &info) == 0;
  if (status != 0 || !written || info.st_size == 0) {
    ADD_FAILURE() << "gcore failed (status " << status << ", core file " << (written ? info.st_size : 0)
                  << " bytes): " << read_file(log).substr(0, 2000);
    return "";
  }
  if (static_cast<std::size_t>(info.st_size) >= kMaxCoreBytes) {
    ADD_FAILURE() << "the core file reached the 2 GiB cut: gdb dumped mappings that should be excluded";
    return "";
  }
  return core;
}

bool contains(const std::string& haystack, const Bytes& needle) {
  return std::search(haystack.begin(), haystack.end(), reinterpret_cast<const char*>(needle.data()),
                     reinterpret_cast<const char*>(needle.data()) + needle.size()) != haystack.end();
}

class CoreFile : public SecretSource, public ::testing::WithParamInterface<secbits_page_source> {};

TEST_P(CoreFile, OfTheOwnerHoldsNoSecretAndNothingOfItsPool) {
  SecretOwner owner(GetParam());
  ASSERT_EQ(owner.error(), "");
  const PoolRange pool = pool_of(owner.pid());
  ASSERT_NE(pool.start, 0u) << "the owner's pool marker mapping was not found";
  ASSERT_LT(pool.start, pool.end);
  if (GetParam() == SECBITS_SOURCE_SECRET) {
    ASSERT_FALSE(pool.secret_mappings.empty()) << "the owner under the secret source maps no /secretmem";
  } else {
    EXPECT_TRUE(pool.secret_mappings.empty()) << "the owner under the anonymous source maps /secretmem";
  }

  TemporaryDirectory directory;
  const std::string path = take_core_file(owner.pid(), directory);
  ASSERT_FALSE(path.empty());
  const std::string core = read_file(path);
  std::cout << "[ gcore    ] core file of " << core.size() << " bytes" << std::endl;
  EXPECT_TRUE(contains(core, owner.control().bytes)) << "the core file lacks the owner's ordinary malloc block: "
                                                        "a search that finds nothing proves nothing";
  for (const Secret& secret : owner.secrets()) {
    EXPECT_FALSE(contains(core, secret.bytes)) << "the secret in the " << secret.what << " is in the core file";
  }
  std::string problem;
  const auto dumped = dumped_ranges(core, &problem);
  ASSERT_EQ(problem, "");
  ASSERT_FALSE(dumped.empty());
  const auto overlaps = [&dumped](std::uintptr_t start, std::uintptr_t end) {
    return std::any_of(dumped.begin(), dumped.end(), [&](const auto& range) {
      return range.first < end && start < range.second;
    });
  };
  EXPECT_FALSE(overlaps(pool.start, pool.end))
      << "the core file holds contents of the pool's range " << hex(pool.start) << "-" << hex(pool.end);
  for (const auto& mapping : pool.secret_mappings) {
    EXPECT_FALSE(overlaps(mapping.start, mapping.end))
        << "the core file holds contents of the /secretmem mapping " << hex(mapping.start) << "-" << hex(mapping.end);
  }
  EXPECT_EQ(owner.finish(), 0);
}

INSTANTIATE_TEST_SUITE_P(SecretOrAnonymous, CoreFile, ::testing::Values(SECBITS_SOURCE_SECRET, SECBITS_SOURCE_ANONYMOUS),
                         [](const ::testing::TestParamInfo<secbits_page_source>& info) {
                           return info.param == SECBITS_SOURCE_SECRET ? "Secret" : "Anonymous";
                         });

#endif  // SECBITS_TEST_SANITIZED

// ---------------------------------------------------------------- what the anonymous source guarantees, on secret pages

class SecretPool : public SecretSource {};

TEST_F(SecretPool, BlocksOfEverySizeLieInLockedUndumpableSecretMappings) {
  expect_passed(run_with_fresh_pool([] {
    if (const std::string problem = use_source(SECBITS_SOURCE_SECRET); !problem.empty()) return broken(problem);
    struct Block {
      std::string what;
      void* pointer;
      std::size_t size;
    };
    std::vector<Block> blocks;
    for (const std::size_t size : {std::size_t{16}, std::size_t{100}, std::size_t{4000}, std::size_t{16384},
                                   std::size_t{28672}, std::size_t{28673}, std::size_t{65536}, std::size_t{65537},
                                   kLargeBlock, std::size_t{3} << 20}) {
      blocks.push_back({"secbits_malloc(" + std::to_string(size) + ")", secbits_malloc(size), size});
    }
    blocks.push_back({"secbits_calloc(10, 100)", secbits_calloc(10, 100), 1000});
    blocks.push_back({"secbits_aligned_alloc(64 KiB, 100)", secbits_aligned_alloc(std::size_t{1} << 16, 100), 100});
    for (const Block& block : blocks) {
      if (block.pointer == nullptr) return broken(block.what + " failed");
      if (const std::string problem = secret_mapping_problem(block.pointer, block.size, block.what); !problem.empty()) {
        return broken(problem);
      }
    }
    if (secbits_get_page_source() != SECBITS_SOURCE_SECRET) return broken("secbits_get_page_source() is not SECRET");
    for (const Block& block : blocks) secbits_free(block.pointer);
    return 0;
  }));
}

// The probe goes through write(): process_vm_readv would call secret pages
// unreadable whatever they hold (see support/probe.hpp). Each block is read
// full of data before it is freed, so that the check can see a missing wipe.
TEST_F(SecretPool, FreedBlocksCannotBeReadBack) {
  expect_passed(run_with_fresh_pool([] {
    if (const std::string problem = use_source(SECBITS_SOURCE_SECRET); !problem.empty()) return broken(problem);
    for (const std::size_t size : {std::size_t{16}, std::size_t{100}, std::size_t{256}, std::size_t{4000},
                                   std::size_t{16384}, std::size_t{28672}, std::size_t{40960}, std::size_t{100000},
                                   kLargeBlock}) {
      void* block = secbits_malloc(size);
      if (block == nullptr) return broken("secbits_malloc(" + std::to_string(size) + ") failed");
      const std::size_t usable = secbits_usable_size(block);
      std::memset(block, kSecretByte, usable);
      const auto before = secbits::test::observe_memory_through_pipe(block, usable);
      if (before.nonzero_bytes != usable) {
        return broken("the probe reads " + std::to_string(before.nonzero_bytes) + " of the " + std::to_string(usable) +
                      " bytes of a live secret block: it cannot tell a wiped block");
      }
      secbits_free(block);
      const auto after = secbits::test::observe_memory_through_pipe(block, usable);
      if (!after.wiped_or_inaccessible()) {
        return broken("a freed " + std::to_string(size) + "-byte block still holds " +
                      std::to_string(after.nonzero_bytes) + " of its bytes");
      }
    }
    // realloc that moves leaves nothing at the old address.
    void* old_block = secbits_malloc(1000);
    if (old_block == nullptr) return broken("secbits_malloc(1000) failed");
    std::memset(old_block, kSecretByte, 1000);
    void* new_block = secbits_realloc(old_block, 100000);
    if (new_block == nullptr || new_block == old_block) return broken("realloc 1000 -> 100000 did not move");
    if (!secbits::test::observe_memory_through_pipe(old_block, 1000).wiped_or_inaccessible()) {
      return broken("realloc left the old block's bytes behind");
    }
    secbits_free(new_block);
    return 0;
  }));
}

TEST_F(SecretPool, FreedLargeBlockIsWipedThenClosedByCollectAndAForkedReadFaults) {
  expect_passed(run_with_fresh_pool([] {
    if (const std::string problem = use_source(SECBITS_SOURCE_SECRET); !problem.empty()) return broken(problem);
    for (const std::size_t size : {std::size_t{28673}, std::size_t{64} << 10, kLargeBlock, std::size_t{3} << 20}) {
      const std::string what = "a large block of " + std::to_string(size) + " bytes";
      void* block = secbits_malloc(size);
      if (block == nullptr) return broken("secbits_malloc(" + std::to_string(size) + ") failed");
      const std::size_t usable = secbits_usable_size(block);
      std::memset(block, kSecretByte, usable);
      // The control: a child reads a live block (zeros: see the fork test).
      if (const std::string got = read_in_child(block); got != "zero") {
        return broken("a forked child reading " + what + " that is live: " + got);
      }
      secbits_free(block);
      // Waiting open for reuse, wiped, until collect() closes it.
      if (const auto waiting = secbits::test::observe_memory_through_pipe(block, usable); waiting.nonzero_bytes != 0) {
        return broken(what + ": " + std::to_string(waiting.nonzero_bytes) + " bytes not wiped after free");
      }
      secbits_collect();
      const auto state = secbits::test::observe_memory_through_pipe(block, usable);
      if (!state.inaccessible()) {
        return broken(what + ": " + std::to_string(state.readable_bytes) + " bytes readable after free and collect");
      }
      for (const std::size_t offset : {std::size_t{0}, usable - 1}) {
        if (const std::string got = read_in_child(static_cast<char*>(block) + offset); got != kFault) {
          return broken("a forked child reading " + what + " after free at offset " + std::to_string(offset) +
                        " did not fault: " + got);
        }
      }
    }
    return 0;
  }));
}

// 256-byte blocks until some pages hold nothing else: their pages, in
// address order, with the blocks on each.
std::map<std::uintptr_t, std::vector<void*>> pages_made_of(const std::vector<void*>& blocks) {
  std::map<std::uintptr_t, std::size_t> covered;
  std::map<std::uintptr_t, std::vector<void*>> on_page;
  for (void* block : blocks) {
    const std::uintptr_t start = address_of(block);
    const std::uintptr_t end = start + secbits_usable_size(block);
    for (std::uintptr_t page = start / page_size() * page_size(); page < end; page += page_size()) {
      covered[page] += std::min(end, page + page_size()) - std::max(start, page);
      on_page[page].push_back(block);
    }
  }
  std::map<std::uintptr_t, std::vector<void*>> full;
  for (const auto& [page, bytes] : covered) {
    if (bytes == page_size()) full[page] = on_page[page];
  }
  return full;
}

TEST_F(SecretPool, EagerClosesAPageOnTheFreeThatEmptiesItAndAForkedReadFaults) {
  expect_passed(run_with_fresh_pool([] {
    if (const std::string problem = use_source(SECBITS_SOURCE_SECRET); !problem.empty()) return broken(problem);
    secbits_set_page_protection(SECBITS_PROTECT_EAGER);
    // 128 blocks: one slab, which stays in use, so that only the policy
    // can close a page (a slab given back is closed whatever the policy).
    std::vector<void*> blocks;
    for (int i = 0; i < 128; ++i) {
      void* block = secbits_malloc(256);
      if (block == nullptr) return broken("secbits_malloc(256) failed");
      std::memset(block, kSecretByte, secbits_usable_size(block));
      blocks.push_back(block);
    }
    const auto full = pages_made_of(blocks);
    if (full.size() < 2) return broken("fewer than two pages made only of our 256-byte blocks");
    const auto& [page, on_page] = *full.begin();
    const std::uintptr_t other_page = std::next(full.begin())->first;
    if (on_page.size() < 2) return broken("a page holds fewer than two blocks");
    const auto forget = [&blocks](void* block) { blocks.erase(std::find(blocks.begin(), blocks.end(), block)); };
    for (std::size_t i = 0; i + 1 < on_page.size(); ++i) {
      secbits_free(on_page[i]);
      forget(on_page[i]);
    }
    // One live block left: the page stays open, its freed blocks zero.
    const auto state = secbits::test::observe_memory_through_pipe(pointer_at(page), page_size());
    if (state.readable_bytes != page_size()) return broken("the page closed while it still holds a live block");
    if (state.nonzero_bytes != secbits_usable_size(on_page.back())) {
      return broken("the page holds " + std::to_string(state.nonzero_bytes) +
                    " nonzero bytes: not exactly its one live block");
    }
    if (const std::string got = read_in_child(pointer_at(page)); got != "zero") {
      return broken("a forked child reading a page with a live block: " + got);
    }
    secbits_free(on_page.back());
    forget(on_page.back());
    if (!secbits::test::observe_memory_through_pipe(pointer_at(page), page_size()).inaccessible()) {
      return broken("the page emptied under SECBITS_PROTECT_EAGER can still be read");
    }
    // The child renews its secret pages: what was closed must be closed there too.
    if (const std::string got = read_in_child(pointer_at(page)); got != kFault) {
      return broken("a forked child reading the emptied page did not fault: " + got);
    }
    if (const std::string got = read_in_child(pointer_at(other_page)); got != "zero") {
      return broken("a forked child reading another page, still full: " + got);
    }
    for (void* block : blocks) secbits_free(block);
    return 0;
  }));
}

// pool_vma_test's churn, one policy (Eager: the most flips) on secret pages,
// where no two commits share a file and so never merge: the number of
// mappings in the pool's range stays far below its budget.
TEST_F(SecretPool, MappingCountStaysBoundedThroughLongChurnOfMixedSizes) {
  expect_passed(run_with_fresh_pool([] {
    if (const std::string problem = use_source(SECBITS_SOURCE_SECRET); !problem.empty()) return broken(problem);
    secbits_set_page_protection(SECBITS_PROTECT_EAGER);
    constexpr std::size_t kCycles = 250'000;
    constexpr std::size_t kMaxPoolMappings = 4000;
    std::mt19937_64 random(0x5EC12E7);
    const auto pick = [&random](std::size_t low, std::size_t high) { return low + random() % (high - low + 1); };
    std::vector<void*> live;
    std::size_t target = 2500;
    std::size_t peak = 0;
    std::size_t peak_stats = 0;
    for (std::size_t allocations = 0; allocations < kCycles;) {
      const bool toward_target = random() % 4 != 0;
      if (live.empty() || (live.size() < target ? toward_target : !toward_target)) {
        const std::uint64_t bucket = random() % 1000;
        const std::size_t size = bucket < 700   ? pick(16, 256)
                                 : bucket < 950 ? pick(257, 4096)
                                 : bucket < 990 ? pick(4097, 16384)
                                                : pick(16385, 65536);
        auto* block = static_cast<unsigned char*>(secbits_malloc(size));
        if (block == nullptr) {
          return broken("secbits_malloc(" + std::to_string(size) + ") failed after " + std::to_string(allocations) +
                        " allocations: " + std::strerror(errno));
        }
        block[0] = 1;
        block[size - 1] = 1;
        live.push_back(block);
        if (++allocations % 25'000 == 0) {
          target = target == 2500 ? 300 : 2500;
          peak = std::max(peak, pool_mapping_count());
          peak_stats = std::max(peak_stats, secbits::stats().vmas);
        }
      } else {
        const std::size_t victim = random() % live.size();
        std::swap(live[victim], live.back());
        secbits_free(live.back());
        live.pop_back();
      }
    }
    // Those still live are all secret memory.
    const auto mappings = secbits::test::all_mappings();
    for (void* block : live) {
      const auto* mapping = secbits::test::find_mapping(mappings, block);
      if (mapping == nullptr || !mapping->is_secret_memory()) return broken("a live block is not in secret memory");
    }
    for (void* block : live) secbits_free(block);
    if (const std::string hole = reservation_hole(); !hole.empty()) return broken("after the churn, " + hole);
    std::size_t budget = 0;
    std::ifstream("/proc/sys/vm/max_map_count") >> budget;
    budget /= 2;
    std::cout << "pool mappings: peak " << peak << " (stats.vmas " << peak_stats << "), budget " << budget << std::endl;
    if (peak == 0) return broken("no mapping of the pool was seen");
    if (peak >= kMaxPoolMappings || peak_stats >= kMaxPoolMappings || peak >= budget) {
      return broken("the pool's mappings peaked at " + std::to_string(peak) + " (stats.vmas " +
                    std::to_string(peak_stats) + ")");
    }
    return 0;
  }));
}

// The statistics count secret pages as locked, and they add up to the secret
// mappings the kernel shows in the pool's range.
TEST_F(SecretPool, StatisticsCountSecretPagesAsLocked) {
  expect_passed(run_with_fresh_pool([] {
    if (const std::string problem = use_source(SECBITS_SOURCE_SECRET); !problem.empty()) return broken(problem);
    const secbits::PoolStats before = secbits::stats();
    std::vector<void*> blocks = {secbits_malloc(64), secbits_malloc(5000), secbits_malloc(kLargeBlock),
                                 secbits_malloc(std::size_t{3} << 20)};
    for (void* block : blocks) {
      if (block == nullptr) return broken("an allocation failed");
    }
    const secbits::PoolStats after = secbits::stats();
    std::size_t secret_bytes = 0;
    for (const auto& mapping : secbits::test::all_mappings()) {
      if (mapping.is_secret_memory() && secbits_owns(pointer_at(mapping.start))) secret_bytes += mapping.end - mapping.start;
    }
    std::cout << "bytes_locked " << before.bytes_locked << " -> " << after.bytes_locked << ", committed "
              << after.bytes_committed << ", unlocked " << after.bytes_unlocked << ", /secretmem in the pool "
              << secret_bytes << std::endl;
    if (after.bytes_locked < before.bytes_locked + kLargeBlock + (std::size_t{3} << 20) + 5000 + 64) {
      return broken("bytes_locked did not grow by what was allocated");
    }
    if (after.bytes_unlocked != 0) return broken("bytes_unlocked is not 0");
    if (after.bytes_committed != after.bytes_locked) return broken("committed bytes that are not locked");
    if (secret_bytes != after.bytes_locked) return broken("bytes_locked differs from the /secretmem mappings' size");
    for (void* block : blocks) secbits_free(block);
    return 0;
  }));
}

// ---------------------------------------------------------------- the lock budget

// The kernel charges secret memory to RLIMIT_MEMLOCK when it is mapped. A
// child without CAP_IPC_LOCK and with Debian's default budget of 8 MiB.
constexpr std::size_t kLockBudget = std::size_t{8} << 20;
constexpr std::size_t kBudgetBlocks = 16;  // 16 MiB asked for

/// Drops the lock privilege and takes the secret source; "" if both worked.
std::string secret_pool_on_a_budget(secbits_lock_policy policy) {
  if (!secbits::test::drop_lock_privilege(kLockBudget)) return "could not drop CAP_IPC_LOCK";
  secbits_set_lock_policy(policy);
  return use_source(SECBITS_SOURCE_SECRET);
}

/// Each block still holds the byte it was filled with (its index + 1).
std::string contents_problem(const std::vector<unsigned char*>& blocks) {
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const auto expected = static_cast<unsigned char>(i + 1);
    if (blocks[i][0] != expected || blocks[i][kLargeBlock - 1] != expected) {
      return "block " + std::to_string(i) + " lost its contents";
    }
  }
  return {};
}

class SecretLockBudget : public SecretSource {};

TEST_F(SecretLockBudget, StrictFailsBeyondTheBudgetAndEarlierBlocksStillWork) {
  const ChildResult result = run_with_fresh_pool([] {
    if (const std::string problem = secret_pool_on_a_budget(SECBITS_LOCK_STRICT); !problem.empty()) {
      return broken(problem);
    }
    std::vector<unsigned char*> blocks;
    int failure = 0;
    while (blocks.size() < kBudgetBlocks) {
      errno = 0;
      auto* block = static_cast<unsigned char*>(secbits_malloc(kLargeBlock));
      if (block == nullptr) {
        failure = errno;
        break;
      }
      std::memset(block, static_cast<int>(blocks.size() + 1), kLargeBlock);
      blocks.push_back(block);
    }
    std::cout << blocks.size() << " blocks of 1 MiB served; " << secbits::test::describe_lock_budget() << std::endl;
    if (failure == 0) return broken("16 MiB of secret memory served under an 8 MiB lock budget");
    if (failure != ENOMEM) return broken(std::string("the allocation failed with ") + std::strerror(failure));
    if (blocks.size() < 4) return broken("the budget served fewer than 4 MiB");
    if (const std::string hole = reservation_hole(); !hole.empty()) return broken("after the refusal, " + hole);
    if (const std::string problem = contents_problem(blocks); !problem.empty()) return broken(problem);
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      if (const std::string problem = secret_mapping_problem(blocks[i], kLargeBlock, "block " + std::to_string(i));
          !problem.empty()) {
        return broken(problem);
      }
    }
    const secbits::PoolStats stats = secbits::stats();
    if (stats.bytes_unlocked != 0) return broken("strict served unlocked memory");
    if (stats.lock_failures == 0) return broken("stats.lock_failures is 0");
    // A freed block gives its share of the budget back.
    secbits_free(blocks.back());
    blocks.pop_back();
    void* again = secbits_malloc(kLargeBlock);
    if (again == nullptr) return broken("the budget a freed block gave back cannot be used again");
    if (const std::string problem = secret_mapping_problem(again, kLargeBlock, "the block after a free");
        !problem.empty()) {
      return broken(problem);
    }
    secbits_free(again);
    for (unsigned char* block : blocks) secbits_free(block);
    return 0;
  });
  expect_passed(result);
  EXPECT_EQ(lines_containing(result.output, "not locked"), 0u) << "strict warned about unlocked memory:\n"
                                                                << result.output;
}

TEST_F(SecretLockBudget, DegradeServesUnlockedUndumpableMemoryBeyondTheBudgetAndWarnsOnce) {
  const ChildResult result = run_with_fresh_pool([] {
    if (const std::string problem = secret_pool_on_a_budget(SECBITS_LOCK_DEGRADE); !problem.empty()) {
      return broken(problem);
    }
    std::vector<unsigned char*> blocks;
    while (blocks.size() < kBudgetBlocks) {
      auto* block = static_cast<unsigned char*>(secbits_malloc(kLargeBlock));
      if (block == nullptr) return broken("block " + std::to_string(blocks.size()) + " failed under degrade");
      std::memset(block, static_cast<int>(blocks.size() + 1), kLargeBlock);
      blocks.push_back(block);
    }
    if (const std::string problem = contents_problem(blocks); !problem.empty()) return broken(problem);
    std::size_t secret = 0;
    std::size_t unlocked = 0;
    const auto mappings = secbits::test::all_mappings();
    for (unsigned char* block : blocks) {
      const auto* mapping = secbits::test::find_mapping(mappings, block);
      if (mapping == nullptr) return broken("no mapping at a block");
      if (mapping->is_secret_memory()) {
        ++secret;
        continue;
      }
      ++unlocked;
      if (!mapping->path.empty() || mapping->has_flag("lo") || !mapping->has_flag("dd")) {
        return broken("a block beyond the budget is not anonymous, unlocked and undumpable: " + mapping->path);
      }
    }
    const secbits::PoolStats stats = secbits::stats();
    std::cout << secret << " blocks secret, " << unlocked << " unlocked; bytes_unlocked " << stats.bytes_unlocked
              << std::endl;
    if (secret == 0 || unlocked == 0) return broken("expected both secret and unlocked blocks");
    if (stats.bytes_unlocked < unlocked * kLargeBlock) return broken("bytes_unlocked does not count them");
    for (unsigned char* block : blocks) secbits_free(block);
    return 0;
  });
  expect_passed(result);
  EXPECT_EQ(lines_containing(result.output, "continuing with memory that is not locked"), 1u) << result.output;
  EXPECT_EQ(lines_containing(result.output, "secbits: mmap of secret memory"), 1u) << result.output;
}

// ---------------------------------------------------------------- fork

// The library's fork semantics: the child gets zero-filled secret pages
// where the parent's were, can use and free them and allocate new ones, all
// secret, and nothing it writes reaches the parent.
TEST_F(SecretPool, ForkedChildReadsZerosUsesItsOwnPagesAndNeverTouchesTheParents) {
  expect_passed(run_with_fresh_pool([] {
    if (const std::string problem = use_source(SECBITS_SOURCE_SECRET); !problem.empty()) return broken(problem);
    struct Block {
      unsigned char* pointer;
      std::size_t size;
    };
    std::vector<Block> blocks;
    for (const std::size_t size : {std::size_t{64}, std::size_t{4000}, std::size_t{20000}, kLargeBlock}) {
      auto* pointer = static_cast<unsigned char*>(secbits_malloc(size));
      if (pointer == nullptr) return broken("secbits_malloc(" + std::to_string(size) + ") failed");
      std::memset(pointer, 0x5A, size);
      blocks.push_back({pointer, size});
    }
    const ChildResult child = secbits::test::run_in_child([&blocks] {
      for (const Block& block : blocks) {
        if (std::any_of(block.pointer, block.pointer + block.size, [](unsigned char c) { return c != 0; })) {
          return broken("the child reads nonzero bytes in a " + std::to_string(block.size) + "-byte block");
        }
        if (const std::string problem = secret_mapping_problem(block.pointer, block.size, "an inherited block");
            !problem.empty()) {
          return broken(problem);
        }
        std::memset(block.pointer, 0x11, block.size);
      }
      std::vector<void*> fresh = {secbits_malloc(64), secbits_malloc(4000), secbits_malloc(kLargeBlock)};
      for (void* block : fresh) {
        if (block == nullptr) return broken("the child cannot allocate");
        if (const std::string problem = secret_mapping_problem(block, 64, "the child's new block"); !problem.empty()) {
          return broken(problem);
        }
      }
      for (const Block& block : blocks) {
        if (block.pointer[0] != 0x11 || block.pointer[block.size - 1] != 0x11) return broken("the child's writes are lost");
        secbits_free(block.pointer);
      }
      for (void* block : fresh) secbits_free(block);
      return 0;
    });
    if (!child.exited || child.exit_code != 0) return broken("the forked child: " + describe(child));
    for (const Block& block : blocks) {
      if (std::any_of(block.pointer, block.pointer + block.size, [](unsigned char c) { return c != 0x5A; })) {
        return broken("the parent's " + std::to_string(block.size) + "-byte block changed after the child wrote");
      }
      secbits_free(block.pointer);
    }
    return 0;
  }));
}

// Not in sanitizer builds: 150 forks of a process with three threads
// churning secret pages, each child reading its smaps, take minutes under
// ASan (a release build runs it in about 20 s).
#ifndef SECBITS_TEST_SANITIZED
/// A fork while other threads map and unmap secret ranges (new slabs, large
/// blocks committed, spans released): a range in flight is, in the parent's
/// bookkeeping, not committed yet or any more, so the child's renewal skips
/// it, and it reaches the child as its parent's shared pages (mapped, not
/// yet MADV_DONTFORK) or as a hole (MADV_DONTFORK, or half unmapped). The
/// child must find neither: every secret mapping in its pool is its own
/// (dc: made by its renewal, never the parent's), and the reserved range
/// has no hole another mapping could take.
TEST_F(SecretPool, ForksWhileOtherThreadsCommitAndReleaseLeaveTheChildNoSharedPageAndNoHole) {
  expect_passed(run_with_fresh_pool([] {
    if (const std::string problem = use_source(SECBITS_SOURCE_SECRET); !problem.empty()) return broken(problem);
    void* first = secbits_malloc(64);  // the pool exists before the first fork
    if (first == nullptr) return broken("secbits_malloc failed");
    std::atomic<bool> stop{false};
    std::vector<std::thread> churners;
    for (unsigned seed = 1; seed <= 3; ++seed) {
      churners.emplace_back([seed, &stop] {
        std::mt19937_64 random(seed);
        std::vector<void*> kept(48, nullptr);
        while (!stop.load(std::memory_order_relaxed)) {
          // Large blocks of many span sizes overflow the freed-span cache
          // (each free or allocation then maps or unmaps a secret range);
          // small ones of every class take and give back whole slabs.
          const std::size_t size = random() % 3 == 0 ? (std::size_t{32} << 10) << random() % 7 : 1 + random() % 28000;
          void*& slot = kept[random() % kept.size()];
          secbits_free(slot);
          slot = secbits_malloc(size);
          // Never past the block: level 2 would (rightly) stop the test.
          if (slot != nullptr) std::memset(slot, 0x6B, std::min<std::size_t>(size, 64));
          if (random() % 64 == 0) secbits_collect();
        }
        for (void* block : kept) secbits_free(block);
      });
    }
    std::string problem;
    for (int fork_number = 0; fork_number < 150 && problem.empty(); ++fork_number) {
      const ChildResult child = secbits::test::run_in_child([] {
        if (const std::string hole = reservation_hole(); !hole.empty()) return broken(hole);
        for (const auto& mapping : secbits::test::all_mappings()) {
          if (!secbits_owns(pointer_at(mapping.start)) || !mapping.is_secret_memory() || mapping.has_flag("dc")) continue;
          return broken("secret mapping " + hex(mapping.start) + "-" + hex(mapping.end) +
                        " in the child's pool is not its own (no dc): its parent's pages, shared");
        }
        return 0;
      });
      if (!child.exited || child.exit_code != 0) problem = "fork " + std::to_string(fork_number) + ": " + describe(child);
    }
    stop = true;
    for (std::thread& churner : churners) churner.join();
    secbits_free(first);
    return problem.empty() ? 0 : broken(problem);
  }));
}
#endif  // SECBITS_TEST_SANITIZED

// ---------------------------------------------------------------- munlockall

/// Each mapping of the pool that has resident pages is locked: lo, and
/// Locked = Rss. "" if so; `secret_mappings` counts the /secretmem ones.
std::string pool_lock_problem(std::size_t* secret_mappings) {
  *secret_mappings = 0;
  for (const auto& mapping : secbits::test::all_mappings()) {
    if (!secbits_owns(pointer_at(mapping.start)) || mapping.rss_kb == 0) continue;
    *secret_mappings += mapping.is_secret_memory() ? 1 : 0;
    if (!mapping.has_flag("lo") || mapping.locked_kb != mapping.rss_kb) {
      return "pool mapping " + hex(mapping.start) + "-" + hex(mapping.end) + " (" + mapping.path + "): Locked " +
             std::to_string(mapping.locked_kb) + " kB of Rss " + std::to_string(mapping.rss_kb) + " kB" +
             (mapping.has_flag("lo") ? "" : ", no lo");
    }
  }
  return {};
}

/// A pool of `source` holding blocks, then the program's own munlockall();
/// what pool_lock_problem says afterwards.
ChildResult munlockall_under(secbits_page_source source) {
  return run_with_fresh_pool([source] {
    if (const std::string problem = use_source(source); !problem.empty()) return broken(problem);
    std::vector<void*> blocks = {secbits_malloc(64), secbits_malloc(5000), secbits_malloc(kLargeBlock)};
    for (void* block : blocks) {
      if (block == nullptr) return broken("an allocation failed");
      std::memset(block, kSecretByte, secbits_usable_size(block));
    }
    std::size_t secret_mappings = 0;
    if (const std::string problem = pool_lock_problem(&secret_mappings); !problem.empty()) {
      return broken("before munlockall: " + problem);
    }
    // The system call itself: the sanitizers' runtimes turn the libc
    // function into a no-op that returns 0: the check would see nothing change.
    if (::syscall(SYS_munlockall) != 0) return broken(std::string("munlockall: ") + std::strerror(errno));
    if (const std::string problem = pool_lock_problem(&secret_mappings); !problem.empty()) {
      std::cout << "after munlockall: " << problem << std::endl;
      return 3;
    }
    std::cout << secret_mappings << " secret mappings locked after munlockall" << std::endl;
    if (source == SECBITS_SOURCE_SECRET && secret_mappings < 2) return broken("fewer than 2 secret mappings seen");
    for (void* block : blocks) secbits_free(block);
    return 0;
  });
}

TEST_F(SecretPool, MunlockallLeavesTheSecretPoolLocked) { expect_passed(munlockall_under(SECBITS_SOURCE_SECRET)); }

// The contrast, and the proof that the check sees an unlocked pool: a
// program linked with the library (no interposer to relock) unlocks an
// anonymous pool with the same call.
TEST_F(SecretPool, MunlockallUnlocksAnAnonymousPoolSeenTheSameWay) {
  const ChildResult result = munlockall_under(SECBITS_SOURCE_ANONYMOUS);
  EXPECT_TRUE(result.exited && result.exit_code == 3) << describe(result);
}

// ---------------------------------------------------------------- kernels without secret memory

constexpr const char* kFallbackLine = "secbits: the kernel gives no secret memory";
constexpr const char* kRefusedLine = "secbits: secret memory was asked for and the kernel refuses it";

void imitate_a_kernel_without_secret_memory(unsigned from_call = 1) {
  secbits::os::testing::inject_failure(secbits::os::Operation::Secret, from_call, ENOSYS, true);
}

class SecretFallback : public SecretSource {};

TEST_F(SecretFallback, AutoUsesAnonymousMemoryAndSaysSoOnce) {
  const ChildResult result = run_with_fresh_pool([] {
    imitate_a_kernel_without_secret_memory();
    if (const std::string problem = use_source(SECBITS_SOURCE_AUTO); !problem.empty()) return broken(problem);
    if (secbits_get_page_source() != SECBITS_SOURCE_AUTO) return broken("before the pool exists, AUTO is not reported");
    std::vector<void*> blocks = {secbits_malloc(64), secbits_malloc(5000), secbits_malloc(kLargeBlock)};
    for (void* block : blocks) {
      if (block == nullptr) return broken("an allocation failed after the fallback");
      touch(block, 64);
    }
    if (secbits_get_page_source() != SECBITS_SOURCE_ANONYMOUS) return broken("the pool does not report ANONYMOUS");
    const auto mappings = secbits::test::all_mappings();
    for (void* block : blocks) {
      const auto* mapping = secbits::test::find_mapping(mappings, block);
      if (mapping == nullptr || !mapping->path.empty() || !mapping->has_flag("lo") || !mapping->has_flag("dd")) {
        return broken("a block is not in locked, undumpable anonymous memory");
      }
    }
    for (void* block : blocks) secbits_free(block);
    return 0;
  });
  expect_passed(result);
  EXPECT_EQ(lines_containing(result.output, kFallbackLine), 1u) << result.output;
  EXPECT_EQ(result.output.rfind(kFallbackLine, 0), 0u) << "the line does not start the output:\n" << result.output;
}

TEST_F(SecretFallback, AskingForSecretMemoryFailsWithTheKernelsErrno) {
  expect_passed(run_with_fresh_pool([] {
    imitate_a_kernel_without_secret_memory();
    errno = 0;
    if (secbits_set_page_source(SECBITS_SOURCE_SECRET) != -1 || errno != ENOSYS) {
      return broken("secbits_set_page_source(SECRET) did not fail with ENOSYS");
    }
    try {
      secbits::set_page_source(secbits::PageSource::Secret);
      return broken("secbits::set_page_source(Secret) did not throw");
    } catch (const secbits::Error& error) {
      if (error.code() != std::errc::function_not_supported) {
        return broken(std::string("secbits::set_page_source threw ") + error.what());
      }
    }
    // Nothing changed: the pool starts on the default source.
    void* block = secbits_malloc(64);
    if (block == nullptr || secbits_get_page_source() != SECBITS_SOURCE_ANONYMOUS) {
      return broken("the pool did not start anonymous after the refusal");
    }
    secbits_free(block);
    return 0;
  }));
}

TEST_F(SecretFallback, ChoosingAfterThePoolExistsFailsWithEbusy) {
  expect_passed(run_with_fresh_pool([] {
    void* block = secbits_malloc(64);
    if (block == nullptr) return broken("secbits_malloc failed");
    errno = 0;
    if (secbits_set_page_source(SECBITS_SOURCE_SECRET) != -1 || errno != EBUSY) {
      return broken("secbits_set_page_source after the first allocation did not fail with EBUSY");
    }
    try {
      secbits::set_page_source(secbits::PageSource::Secret);
      return broken("secbits::set_page_source after the first allocation did not throw");
    } catch (const secbits::Error& error) {
      if (error.code() != std::errc::device_or_resource_busy) return broken(error.what());
    }
    secbits_free(block);
    return 0;
  }));
}

// Secret memory was granted when asked for, then refused when the pool
// starts: no pool, every allocation fails, said once.
TEST_F(SecretFallback, SecretRefusedWhenThePoolStartsFailsEveryAllocation) {
  const ChildResult result = run_with_fresh_pool([] {
    if (const std::string problem = use_source(SECBITS_SOURCE_SECRET); !problem.empty()) return broken(problem);
    imitate_a_kernel_without_secret_memory();
    for (const std::size_t size : {std::size_t{64}, std::size_t{5000}, kLargeBlock, std::size_t{64}}) {
      errno = 0;
      if (secbits_malloc(size) != nullptr || errno != ENOMEM) {
        return broken("secbits_malloc(" + std::to_string(size) + ") did not fail with ENOMEM");
      }
    }
    return 0;
  });
  expect_passed(result);
  EXPECT_EQ(lines_containing(result.output, kRefusedLine), 1u) << result.output;
}

// Granted at start-up (the pool's probe is call 1), refused at the first
// commit: strict fails that allocation, and the pool serves secret memory
// again once the kernel does.
TEST_F(SecretFallback, SecretRefusedAtTheFirstCommitFailsThatAllocation) {
  expect_passed(run_with_fresh_pool([] {
    if (const std::string problem = use_source(SECBITS_SOURCE_SECRET); !problem.empty()) return broken(problem);
    secbits_set_lock_policy(SECBITS_LOCK_STRICT);
    imitate_a_kernel_without_secret_memory(2);
    for (const std::size_t size : {std::size_t{64}, kLargeBlock}) {
      errno = 0;
      if (secbits_malloc(size) != nullptr || errno != ENOMEM) {
        return broken("secbits_malloc(" + std::to_string(size) + ") did not fail with ENOMEM");
      }
    }
    if (secbits::os::testing::calls(secbits::os::Operation::Secret) < 3) {
      return broken("the failures did not come from memfd_secret");
    }
    if (secbits_get_page_source() != SECBITS_SOURCE_SECRET) return broken("the pool does not report SECRET");
    if (const std::string hole = reservation_hole(); !hole.empty()) return broken("after the refusals, " + hole);
    secbits::os::testing::reset();
    void* block = secbits_malloc(64);
    if (block == nullptr) return broken("no allocation once the kernel gives secret memory again");
    if (const std::string problem = secret_mapping_problem(block, 64, "the block"); !problem.empty()) {
      return broken(problem);
    }
    secbits_free(block);
    return 0;
  }));
}

}  // namespace
