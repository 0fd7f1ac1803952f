// An ordinary program, with nothing of secbits in it, that allocates with
// the C and C++ heap functions and then waits on its standard input, so that
// process_guarantees_test can look at it from the outside (/proc/PID/smaps,
// /proc/PID/mem, gcore) with and without the interposer.
//
// Every mode talks on raw file descriptors with write()/read() and formats
// into stack buffers: stdio would keep its own copies of what passes through
// it, and a secret must exist only in the block it was read into.
//
// Modes (each reports one line on stdout, then waits for a command byte):
//   hold SIZE...     reads two 32-byte probes, then one secret of each SIZE
//                    from stdin straight into malloc()ed blocks; reports
//                    "held ADDRESS..."; on 'f' frees the secrets and reports
//                    "freed"; exits on 'q' or end of input.
//   heap             allocates through many paths (C, C++, libc internals,
//                    another thread); reports "heap NAME=ADDRESS ...".
//   efault SIZE...   checks that write(pipe, block, ...) succeeds on every
//                    page of each block before free and fails with EFAULT
//                    after it; exits 0 if so, 1 with a report otherwise.
//   fork             allocates, forks; the child writes to the inherited
//                    blocks, allocates more and reports "child PID NAME=ADDRESS ..."
//                    then waits; the parent exits with the child's status.
//   lock-exhaust N   mallocs N blocks of 64 KiB, keeping them; reports
//                    "served K errno E first=ADDRESS last=ADDRESS", waits,
//                    then frees them all, allocates one more block and
//                    reports "recovered 0|1".
//   run              reports "ran" and exits 0.
//   double-free SIZE frees a SIZE-byte block twice; reports "pointer ADDRESS"
//                    first (and "survived" if the process is still alive).
//   stack-free       frees the address of a stack buffer, reporting it first.
//   realloc-freed SIZE / usable-freed SIZE
//                    frees a SIZE-byte block, then reallocs it to a size of
//                    the same class (or asks its usable size); reports
//                    "pointer ADDRESS" first, "survived" if still alive.
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <malloc.h>
#include <new>
#include <string>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace {

constexpr std::size_t kPage = 4096;
constexpr std::size_t kProbeSize = 32;
constexpr int kMaxBlocks = 64;

[[gnu::format(printf, 1, 2)]] void say(const char* format, ...) {
  char line[4096];
  va_list arguments;
  va_start(arguments, format);
  const int length = std::vsnprintf(line, sizeof line, format, arguments);
  va_end(arguments);
  std::size_t left = static_cast<std::size_t>(length < 0 ? 0 : std::min<int>(length, sizeof line - 1));
  for (const char* at = line; left > 0;) {
    const ssize_t n = ::write(STDOUT_FILENO, at, left);
    if (n <= 0) std::_Exit(3);
    at += n;
    left -= static_cast<std::size_t>(n);
  }
}

[[noreturn]] void die(const char* what) {
  say("error %s: %s\n", what, std::strerror(errno));
  std::_Exit(2);
}

/// Reads exactly `size` bytes from stdin into `destination`.
void read_exact(void* destination, std::size_t size) {
  auto* at = static_cast<char*>(destination);
  while (size > 0) {
    const ssize_t n = ::read(STDIN_FILENO, at, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("reading stdin");
    at += n;
    size -= static_cast<std::size_t>(n);
  }
}

/// The next command byte, or 'q' at the end of the input.
char command() {
  char byte = 'q';
  ssize_t n;
  while ((n = ::read(STDIN_FILENO, &byte, 1)) < 0 && errno == EINTR) {
  }
  return n == 1 ? byte : 'q';
}

std::size_t parse_size(const char* text) { return static_cast<std::size_t>(std::strtoull(text, nullptr, 10)); }

// The compiler must not see these frees for what they are: it would warn
// about (or fold away) a double free and a free of a stack address, which
// are exactly what the tests ask the interposer to catch.
void (*volatile g_free)(void*) = std::free;
void* (*volatile g_realloc)(void*, std::size_t) = std::realloc;

int hold(int count, char** sizes) {
  if (count > kMaxBlocks) return 2;
  // Two probes in pages of our own (not the heap): one stays readable, and
  // is in a core file; one is made PROT_NONE, and only a scan that reads
  // inaccessible pages through /proc/PID/mem can find it.
  auto* pages = static_cast<char*>(::mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (pages == MAP_FAILED) die("mmap");
  read_exact(pages, kProbeSize);
  read_exact(pages + kPage, kProbeSize);
  if (::mprotect(pages + kPage, kPage, PROT_NONE) != 0) die("mprotect");

  void* blocks[kMaxBlocks];
  char line[kMaxBlocks * 24 + 16] = "held";
  for (int i = 0; i < count; ++i) {
    const std::size_t size = parse_size(sizes[i]);
    blocks[i] = std::malloc(size);
    if (blocks[i] == nullptr) die("malloc");
    read_exact(blocks[i], size);
    std::snprintf(line + std::strlen(line), sizeof line - std::strlen(line), " %p", blocks[i]);
  }
  say("%s\n", line);
  for (char c; (c = command()) != 'q';) {
    if (c != 'f') continue;
    for (int i = 0; i < count; ++i) std::free(blocks[i]);
    say("freed\n");
  }
  return 0;
}

int heap() {
  struct Named {
    const char* name;
    const void* address;
  } named[32];
  int n = 0;
  auto add = [&](const char* name, const void* address) {
    if (address == nullptr) die(name);
    named[n++] = {name, address};
  };
  const std::size_t sizes[] = {16, 200, 4096, 100 << 10, 3 << 20};
  const char* const names[] = {"malloc(16)", "malloc(200)", "malloc(4096)", "malloc(100KiB)", "malloc(3MiB)"};
  for (int i = 0; i < 5; ++i) {
    void* block = std::malloc(sizes[i]);
    if (block != nullptr) std::memset(block, 0x11, sizes[i]);
    add(names[i], block);
  }
  add("calloc(10,10)", std::calloc(10, 10));
  void* grown = std::realloc(std::malloc(10), 50000);
  if (grown != nullptr) std::memset(grown, 0x22, 50000);
  add("realloc(50000)", grown);
  void* aligned = nullptr;
  if (::posix_memalign(&aligned, 64, 100) != 0) aligned = nullptr;
  add("posix_memalign(64,100)", aligned);
  add("aligned_alloc(4096,4096)", std::aligned_alloc(4096, 4096));
  add("new[](64)", new char[64]());
  auto* text = new std::string(100, 's');
  add("std::string(100)", text->data());
  add("strdup", ::strdup("a string that glibc copies with malloc"));
  FILE* file = std::fopen("/proc/self/stat", "r");  // glibc mallocs the FILE
  add("fopen", file);
  if (file != nullptr) {
    char c;
    if (std::fread(&c, 1, 1, file) != 1) die("fread");  // and its buffer
  }
  const void* from_thread = nullptr;
  std::thread([&] {
    void* block = std::malloc(300);
    if (block != nullptr) std::memset(block, 0x33, 300);
    from_thread = block;
  }).join();
  add("thread:malloc(300)", from_thread);

  char line[4096] = "heap";
  for (int i = 0; i < n; ++i) {
    std::snprintf(line + std::strlen(line), sizeof line - std::strlen(line), " %s=%p", named[i].name, named[i].address);
  }
  say("%s\n", line);
  while (command() != 'q') {
  }
  return 0;
}

/// True if the kernel can copy `size` bytes at `address` into a pipe. A page
/// that is PROT_NONE or unmapped makes write() fail with EFAULT.
bool readable_through_pipe(int pipe_fds[2], const void* address, std::size_t size, int* error) {
  const ssize_t written = ::write(pipe_fds[1], address, size);
  *error = written < 0 ? errno : 0;
  if (written <= 0) return false;
  char sink[kPage];
  for (ssize_t left = written; left > 0;) {
    const ssize_t got = ::read(pipe_fds[0], sink, sizeof sink);
    if (got <= 0) die("draining the pipe");
    left -= got;
  }
  return written == static_cast<ssize_t>(size);
}

int efault(int count, char** sizes) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) die("pipe");
  int failures = 0;
  for (int i = 0; i < count; ++i) {
    const std::size_t size = parse_size(sizes[i]);
    auto* block = static_cast<char*>(std::malloc(size));
    if (block == nullptr) die("malloc");
    std::memset(block, 0x5a, size);
    int error = 0;
    std::size_t readable_before = 0;
    for (std::size_t offset = 0; offset < size; offset += kPage) {
      readable_before += readable_through_pipe(pipe_fds, block + offset, std::min(kPage, size - offset), &error);
    }
    g_free(block);
    std::size_t faulting_after = 0;
    std::size_t pages = 0;
    for (std::size_t offset = 0; offset < size; offset += kPage, ++pages) {
      const bool readable = readable_through_pipe(pipe_fds, block + offset, std::min(kPage, size - offset), &error);
      faulting_after += !readable && error == EFAULT;
    }
    say("block %zu at %p: %zu of %zu pages readable before free, %zu fault (EFAULT) after\n", size,
        static_cast<void*>(block), readable_before, pages, faulting_after);
    failures += readable_before != pages || faulting_after != pages;
  }
  return failures == 0 ? 0 : 1;
}

int fork_child() {
  auto* small = static_cast<char*>(std::malloc(200));
  auto* large = static_cast<char*>(std::malloc(100 << 10));
  if (small == nullptr || large == nullptr) die("malloc");
  std::memset(small, 1, 200);
  std::memset(large, 1, 100 << 10);
  const pid_t pid = ::fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    ::alarm(60);  // never outlive a driver that gave up
    // Writing makes the child's own copies of the inherited pages.
    std::memset(small, 2, 200);
    std::memset(large, 2, 100 << 10);
    auto* new_small = static_cast<char*>(std::malloc(300));
    auto* new_large = static_cast<char*>(std::malloc(200 << 10));
    if (new_small == nullptr || new_large == nullptr) die("malloc in the child");
    std::memset(new_small, 3, 300);
    std::memset(new_large, 3, 200 << 10);
    say("child %d inherited-small=%p inherited-large=%p new-small=%p new-large=%p\n", static_cast<int>(::getpid()),
        static_cast<void*>(small), static_cast<void*>(large), static_cast<void*>(new_small),
        static_cast<void*>(new_large));
    while (command() != 'q') {
    }
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int lock_exhaust(std::size_t count) {
  constexpr std::size_t kBlock = 64 << 10;
  static void* blocks[4096];
  if (count > std::size(blocks)) return 2;
  std::size_t served = 0;
  int error = 0;
  for (; served < count; ++served) {
    errno = 0;
    blocks[served] = std::malloc(kBlock);
    if (blocks[served] == nullptr) {
      error = errno;
      break;
    }
    std::memset(blocks[served], 0x44, kBlock);
  }
  say("served %zu errno %d first=%p last=%p\n", served, error, served > 0 ? blocks[0] : nullptr,
      served > 0 ? blocks[served - 1] : nullptr);
  while (command() != 'q') {
  }
  for (std::size_t i = 0; i < served; ++i) std::free(blocks[i]);
  void* again = std::malloc(kBlock);
  say("recovered %d\n", again != nullptr ? 1 : 0);
  std::free(again);
  return 0;
}

void no_core_file() {
  const rlimit none{0, 0};
  ::setrlimit(RLIMIT_CORE, &none);
}

int double_free(std::size_t size) {
  no_core_file();
  void* block = std::malloc(size);
  if (block == nullptr) die("malloc");
  say("pointer %p\n", block);
  g_free(block);
  g_free(block);
  say("survived\n");
  return 0;
}

int use_after_free(const std::string& use, std::size_t size) {
  no_core_file();
  void* block = std::malloc(size);
  if (block == nullptr) die("malloc");
  say("pointer %p\n", block);
  g_free(block);
  if (use == "realloc-freed") {
    (void)g_realloc(block, size - 4);
  } else {
    say("usable %zu\n", ::malloc_usable_size(block));
  }
  say("survived\n");
  return 0;
}

int stack_free() {
  no_core_file();
  char buffer[64] = {};
  say("pointer %p\n", static_cast<void*>(buffer));
  g_free(buffer);
  say("survived\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "hold") return hold(argc - 2, argv + 2);
  if (mode == "heap") return heap();
  if (mode == "efault") return efault(argc - 2, argv + 2);
  if (mode == "fork") return fork_child();
  if (mode == "lock-exhaust" && argc == 3) return lock_exhaust(parse_size(argv[2]));
  if (mode == "run") {
    say("ran\n");
    return 0;
  }
  if (mode == "double-free" && argc == 3) return double_free(parse_size(argv[2]));
  if (mode == "stack-free") return stack_free();
  if ((mode == "realloc-freed" || mode == "usable-freed") && argc == 3) return use_after_free(mode, parse_size(argv[2]));
  say("usage: %s hold SIZE...|heap|efault SIZE...|fork|lock-exhaust N|run|double-free SIZE|stack-free|realloc-freed SIZE|usable-freed SIZE\n", argv[0]);
  return 2;
}
