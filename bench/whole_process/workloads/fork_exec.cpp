// fork_exec: a process with a big heap that starts other programs the classic
// way, fork() and execv() in the child (a shell, make, a server running CGI
// or hooks, Python's subprocess on systems without posix_spawn): it builds
// about 300 MiB of live blocks, every byte written (100 MiB of 16-256 B
// blocks, 200 MiB of 1-64 KiB ones), then runs /bin/true kRuns times,
// replacing kReplacedPerRun random blocks between two runs, and at the end
// checks and frees every block.
//
// The fork copies the page tables of the whole heap, so its cost grows with
// what the allocator keeps mapped, and anything an allocator does at fork
// (locks, handlers in the child, memory it locks again or marks in the
// child) happens on every run. The child only calls execv, or _exit if that
// fails, as a program that forks with a heap must.
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "common.hpp"

namespace {

constexpr std::size_t kSmallBytes = std::size_t{100} << 20;
constexpr std::size_t kMediumBytes = std::size_t{200} << 20;
constexpr std::size_t kReplacedPerRun = 2000;
constexpr char kProgram[] = "/bin/true";

struct Block {
  unsigned char* data;
  std::size_t size;
  std::uint64_t tag;
};

Block make(std::size_t size, wp::Rng& rng) {
  auto* data = static_cast<unsigned char*>(wp::checked(std::malloc(size)));
  const std::uint64_t tag = rng.next();
  std::memset(data, static_cast<int>(tag >> 8), size);
  wp::stamp(data, size, tag);
  return {data, size, tag};
}

std::uint64_t release(const Block& b) {
  const std::uint64_t value = wp::unstamp(b.data, b.size, b.tag) + b.data[b.size / 2];
  std::free(b.data);
  return value;
}

// Interleaved, as a program builds its data: the small blocks of one object
// sit between the medium ones of another.
std::vector<Block> build_heap(wp::Rng& rng) {
  std::vector<Block> heap;
  std::size_t small = 0, medium = 0;
  while (small < kSmallBytes || medium < kMediumBytes) {
    if (medium < kMediumBytes && (small >= kSmallBytes || rng.next() % 128 == 0)) {
      heap.push_back(make(rng.range(1024, 65536), rng));
      medium += heap.back().size;
    } else {
      heap.push_back(make(rng.range(16, 256), rng));
      small += heap.back().size;
    }
  }
  return heap;
}

void run_program() {
  const pid_t child = fork();
  if (child < 0) {
    std::perror("fork");
    std::abort();
  }
  if (child == 0) {
    char* const args[] = {const_cast<char*>(kProgram), nullptr};
    execv(kProgram, args);
    _exit(127);
  }
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "%s failed (status 0x%x)\n", kProgram, status);
    std::abort();
  }
}

}  // namespace

int main(int argc, char** argv) {
  const auto runs = static_cast<std::size_t>(150 * wp::scale(argc, argv));
  wp::Rng rng(0xf0e);
  std::vector<Block> heap = build_heap(rng);
  std::uint64_t sum = heap.size();
  for (std::size_t run = 0; run < runs; ++run) {
    run_program();
    for (std::size_t i = 0; i < kReplacedPerRun; ++i) {
      Block& b = heap[rng.next() % heap.size()];
      const std::size_t size = b.size;
      sum += release(b);
      b = make(size, rng);
    }
  }
  for (const Block& b : heap) sum += release(b);
  wp::print_checksum("fork_exec", sum);
}
