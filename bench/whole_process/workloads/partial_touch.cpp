// partial_touch: big tables of which a program uses a small part (hash tables
// sized for the worst case, sparse arrays, per-connection buffers that stay
// mostly empty, calloc'ed bitmaps). Each job allocates kTables tables of
// 1-64 MiB (log-uniform), a few hundred MiB of address space in all, each
// from malloc, calloc or new[], writes 5-15 % of each table's pages,
// scattered, and then frees them all in random order, as a program that
// loads, uses and drops one input after another does.
//
// What it measures is peak RSS: under glibc (and any allocator that leaves
// fresh pages to the kernel, and gives back what is freed) only the written
// pages are resident, so an allocator that faults in, locks or wipes every
// page it hands out, or keeps what a job wrote for the next, shows it at
// once. The pages a table writes follow from its seed, so they are read
// back and checked before the free.
#include <vector>

#include "common.hpp"

namespace {

constexpr std::size_t kTables = 20;
constexpr std::size_t kPage = 4096;
constexpr std::size_t kMinSize = std::size_t{1} << 20;
constexpr std::size_t kMaxSize = std::size_t{64} << 20;

enum class Source { Malloc, Calloc, NewArray };

struct Table {
  unsigned char* data = nullptr;
  std::size_t size = 0;
  std::uint64_t tag = 0;  // also the seed of the pages written
  Source source = Source::Malloc;
};

std::size_t pages_written(std::size_t size, std::uint64_t tag) {
  const std::size_t pages = size / kPage;
  const std::size_t percent = 5 + tag % 11;  // 5-15 %
  return pages * percent / 100;
}

// The byte a table holds at the start of one of its written pages.
unsigned char page_value(std::uint64_t tag, std::size_t page) {
  return static_cast<unsigned char>(wp::mix(tag ^ page) | 1);
}

Table make(wp::Rng& rng) {
  Table t;
  t.size = rng.log_range(kMinSize, kMaxSize);
  t.tag = rng.next();
  t.source = static_cast<Source>(rng.next() % 3);
  switch (t.source) {
    case Source::Malloc: t.data = static_cast<unsigned char*>(wp::checked(std::malloc(t.size))); break;
    case Source::Calloc: t.data = static_cast<unsigned char*>(wp::checked(std::calloc(1, t.size))); break;
    case Source::NewArray: t.data = new unsigned char[t.size]; break;
  }
  wp::Rng pages(t.tag);
  const std::size_t last_page = t.size / kPage - 1;
  for (std::size_t n = pages_written(t.size, t.tag); n > 0; --n) {
    const std::size_t page = pages.range(0, last_page);
    unsigned char* at = t.data + page * kPage;
    // A calloc'ed page reads as zero until this table writes it (pages are
    // drawn with replacement): checked only on pages written anyway, so that
    // the check faults in nothing more.
    if (t.source == Source::Calloc) {
      const unsigned char expected = at[0] == 0 ? 0 : page_value(t.tag, page);
      if (at[0] != expected || at[kPage / 2] != expected || at[kPage - 1] != 0) {
        std::fprintf(stderr, "calloc returned a dirty page\n");
        std::abort();
      }
    }
    at[0] = page_value(t.tag, page);
    at[kPage / 2] = page_value(t.tag, page);
  }
  wp::stamp(t.data, t.size, t.tag);
  return t;
}

std::uint64_t release(Table& t) {
  std::uint64_t sum = wp::unstamp(t.data, t.size, t.tag);
  wp::Rng pages(t.tag);
  const std::size_t last_page = t.size / kPage - 1;
  for (std::size_t n = pages_written(t.size, t.tag); n > 0; --n) {
    const std::size_t page = pages.range(0, last_page);
    const unsigned char* at = t.data + page * kPage;
    // The head stamp overwrites page 0's first byte; the tail stamp lies
    // past the last whole page's first byte.
    if (page != 0 && at[0] != page_value(t.tag, page)) {
      std::fprintf(stderr, "table %p lost page %zu\n", static_cast<void*>(t.data), page);
      std::abort();
    }
    sum += at[kPage / 2];
  }
  switch (t.source) {
    case Source::Malloc:
    case Source::Calloc: std::free(t.data); break;
    case Source::NewArray: delete[] t.data; break;
  }
  t.data = nullptr;
  return wp::mix(sum ^ t.size);
}

}  // namespace

int main(int argc, char** argv) {
  const auto jobs = static_cast<std::size_t>(60 * wp::scale(argc, argv));
  wp::Rng rng(0x7a61);
  std::vector<Table> tables;
  tables.reserve(kTables);
  std::uint64_t sum = 0;
  for (std::size_t job = 0; job < jobs; ++job) {
    for (std::size_t i = 0; i < kTables; ++i) tables.push_back(make(rng));
    while (!tables.empty()) {
      Table& t = tables[rng.next() % tables.size()];
      sum += release(t);
      t = tables.back();
      tables.pop_back();
    }
  }
  wp::print_checksum("partial_touch", sum);
}
