// The secure pool against the allocators a program would otherwise use for
// secrets (libsodium, OpenSSL's secure heap, Botan 2's mlock pool) and against
// the general-purpose allocators it has to stay close to (jemalloc, glibc), in
// one run so that the ratios are taken on the same machine at the same time.
//
// Every benchmark is named <pattern>/<allocator>/<bytes>:
//   a  alloc-then-free, one object at a time;
//   b  batch_of(N) live objects, then freed in a random order (the permutation is
//      made before the timed loop);
//   c  pattern b on two threads at once (->Threads(2)).
// Every object is touched once per 64 bytes (one byte written) after it is
// allocated. The counter `pairs` is the number of alloc+free pairs one thread
// makes per iteration; ns per pair is real_time * threads / pairs (Google
// Benchmark divides the wall time of a threaded run by the iterations of all
// threads). scripts/bench.sh turns the JSON output into ratio tables.
//
// --source=anonymous|secret|auto (this binary's own option, taken out of argv
// before Google Benchmark sees it) sets the pool's page source before its
// first allocation: the source is fixed per process. Under any source but
// anonymous only the secbits benchmarks are registered (the peers do not
// depend on it) and their allocator names get the suffix _secret
// (a/secbits_c_secret/16), so that scripts/bench.sh can run the binary twice,
// anonymous then secret, and pool_report.py merge the two JSON files.
//
// SECBITS_BENCH_HARDENING=0|1|2|3 (environment) sets the pool's hardening
// level (secbits_set_hardening) before its first allocation: the level is
// fixed per process too, so bench/hardening.sh runs the binary once per level,
// the levels alternated. Unset: the pool's default. The level is in the JSON
// context (secbits_hardening) and in the stats line at the end.
//
// This binary links jemalloc, whose libjemalloc.so exports malloc and free: it
// is the malloc of the whole process here (Google Benchmark, libcrypto, Botan
// and libsecbits included). glibc's allocator is therefore measured through
// __libc_malloc and __libc_free, which glibc exports for this purpose.

// Botan marks <botan/locking_allocator.h> "will be made internal" with a GCC
// warning pragma, which -Werror would turn into an error.
#define BOTAN_NO_DEPRECATED_WARNINGS 1

#include <secbits/secbits.h>
#include <secbits/secure_new.hpp>

#include <benchmark/benchmark.h>
#include <botan/locking_allocator.h>
#include <jemalloc/jemalloc.h>
#include <openssl/crypto.h>
#include <sodium.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

extern "C" {
void* __libc_malloc(std::size_t size);
void __libc_free(void* pointer);
}

namespace {

constexpr std::size_t kSizes[] = {16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536, 262144, 1048576};
// Live objects per thread, patterns b and c: 1,000, or 64 MiB of them where
// that is fewer (256 and 64 objects of 256 KiB and 1 MiB).
constexpr std::size_t kBatch = 1000;
constexpr std::size_t kBatchBytes = std::size_t{64} << 20;
constexpr std::size_t batch_of(std::size_t bytes) { return kBatch < kBatchBytes / bytes ? kBatch : kBatchBytes / bytes; }
constexpr std::size_t kOpenSslHeap = std::size_t{256} << 20;  // 2 threads x 64 MiB = 128 MiB live at most
constexpr std::size_t kOpenSslMinSize = 16;

// "" under the anonymous source, "_secret" under the secret one: appended to
// the secbits allocators' names (set in main before anything is registered).
std::string g_secbits_suffix;

// ---------------------------------------------------------------------------
// The allocators. Each has alloc(size) (nullptr when it will not serve the
// request) and release(pointer, size), a name used in the benchmark names,
// and owned(pointer): whether a block really came from the allocator's own
// (locked) memory, checked once per benchmark outside the timed loop.

struct SecbitsC {
  static constexpr bool is_secbits = true;
  static constexpr const char* name = "secbits_c";
  static constexpr double min_time = 0;  // 0: --benchmark_min_time decides
  template <std::size_t N>
  static void* alloc() { return secbits_malloc(N); }
  template <std::size_t N>
  static void release(void* pointer) { secbits_free(pointer); }
  static bool owned(void* pointer) { return secbits_owns(pointer) == 1; }
};

// secure_new<Blob<N>> / secure_delete: the typed C++ front end. Blob's
// constructor is user-provided and empty, so secure_new does not zero the
// object again (the pool hands out zeroed blocks).
template <std::size_t N>
struct Blob {
  Blob() noexcept {}
  unsigned char bytes[N];
};

struct SecbitsCpp {
  static constexpr bool is_secbits = true;
  static constexpr const char* name = "secbits_cpp";
  static constexpr double min_time = 0;
  template <std::size_t N>
  static void* alloc() { return secbits::secure_new<Blob<N>>(); }
  template <std::size_t N>
  static void release(void* pointer) { secbits::secure_delete(static_cast<Blob<N>*>(pointer)); }
  static bool owned(void* pointer) { return secbits_owns(pointer) == 1; }
};

// One mapping per object with guard pages, mlock and madvise: ~27 us a pair,
// so it gets a short minimum time of its own (the flag does not apply to it).
struct Sodium {
  static constexpr bool is_secbits = false;
  static constexpr const char* name = "sodium";
  static constexpr double min_time = 0.1;
  template <std::size_t N>
  static void* alloc() { return sodium_malloc(N); }
  template <std::size_t N>
  static void release(void* pointer) { sodium_free(pointer); }
  static bool owned(void*) { return true; }
};

// CRYPTO_secure_malloc silently falls back to plain malloc when the secure
// heap is not initialised or is full; owned() catches that.
struct OpenSsl {
  static constexpr bool is_secbits = false;
  static constexpr const char* name = "openssl";
  static constexpr double min_time = 0;
  template <std::size_t N>
  static void* alloc() { return OPENSSL_secure_malloc(N); }
  template <std::size_t N>
  static void release(void* pointer) { OPENSSL_secure_free(pointer); }
  static bool owned(void* pointer) { return CRYPTO_secure_allocated(pointer) == 1; }
};

// Botan 2's mlock_allocator: a fixed pool of locked pages made on first use,
// at most BOTAN_MLOCK_ALLOCATOR_MAX_LOCKED_KB (512 KiB in Debian's build;
// BOTAN_MLOCK_POOL_SIZE can only lower it). Its Memory_Pool serves 16..256
// bytes only, in 12 bucket sizes, one page per bucket; anything else, or a
// request when no page is left, returns nullptr. (Botan's secure_vector then
// falls back to calloc, unlocked; that fallback is not measured here.)
struct Botan2 {
  static constexpr bool is_secbits = false;
  static constexpr const char* name = "botan";
  static constexpr double min_time = 0;
  template <std::size_t N>
  static void* alloc() { return Botan::mlock_allocator::instance().allocate(N, 1); }
  template <std::size_t N>
  static void release(void* pointer) {
    if (!Botan::mlock_allocator::instance().deallocate(pointer, N, 1)) std::abort();
  }
  static bool owned(void* pointer) { return pointer != nullptr; }
};

struct Jemalloc {
  static constexpr bool is_secbits = false;
  static constexpr const char* name = "jemalloc";
  static constexpr double min_time = 0;
  template <std::size_t N>
  static void* alloc() { return mallocx(N, 0); }
  template <std::size_t N>
  static void release(void* pointer) { dallocx(pointer, 0); }
  static bool owned(void*) { return true; }
};

struct Glibc {
  static constexpr bool is_secbits = false;
  static constexpr const char* name = "glibc";
  static constexpr double min_time = 0;
  template <std::size_t N>
  static void* alloc() { return __libc_malloc(N); }
  template <std::size_t N>
  static void release(void* pointer) { __libc_free(pointer); }
  static bool owned(void*) { return true; }
};

// ---------------------------------------------------------------------------

template <std::size_t N>
inline void touch(void* pointer) {
  auto* bytes = static_cast<volatile unsigned char*>(pointer);
  for (std::size_t offset = 0; offset < N; offset += 64) bytes[offset] = 1;
}

/// For the secbits columns: the pool's protection_flips (mprotect calls that
/// open or close small-block pages) per alloc+free pair over the timed loop,
/// as counter `flips_per_pair`. The pool counts for the whole process, so in
/// pattern c the first thread alone reports it, over both threads' pairs (an
/// approximation: the threads do not start and stop at the same instant).
class FlipCounter {
 public:
  template <class A>
  static FlipCounter start(const benchmark::State& state) {
    return FlipCounter(A::is_secbits && state.thread_index() == 0);
  }
  void stop(benchmark::State& state, std::size_t pairs_per_iteration) const {
    if (!active_) return;
    const double pairs = static_cast<double>(state.iterations()) * static_cast<double>(pairs_per_iteration) *
                         static_cast<double>(state.threads());
    if (pairs > 0) state.counters["flips_per_pair"] = static_cast<double>(flips() - before_) / pairs;
  }

 private:
  explicit FlipCounter(bool active) : active_(active), before_(active ? flips() : 0) {}
  static std::size_t flips() {
    struct secbits_stats stats{};  // `struct`: the function of the same name hides the type in C++
    secbits_stats(&stats);
    return stats.protection_flips;
  }
  bool active_;
  std::size_t before_;
};

std::string refusal(const char* allocator, std::size_t size, std::size_t live) {
  return std::string(allocator) + " returned nullptr for " + std::to_string(size) + " B with " +
         std::to_string(live) + " objects of this thread live";
}

/// Untimed: `count` objects, each checked to come from the allocator's own
/// memory, then freed. False (and the benchmark skipped) if one does not.
template <class A, std::size_t N>
bool probe(benchmark::State& state, std::size_t count) {
  std::vector<void*> objects;
  objects.reserve(count);
  bool ok = true;
  for (std::size_t i = 0; i < count && ok; ++i) {
    void* object = A::template alloc<N>();
    if (object == nullptr) {
      state.SkipWithError(refusal(A::name, N, i).c_str());
      ok = false;
    } else if (!A::owned(object)) {
      state.SkipWithError((std::string(A::name) + ": block not from its secure memory").c_str());
      A::template release<N>(object);
      ok = false;
    } else {
      objects.push_back(object);
    }
  }
  for (void* object : objects) A::template release<N>(object);
  return ok;
}

// Pattern a.
template <class A, std::size_t N>
void AllocFree(benchmark::State& state) {
  if (!probe<A, N>(state, 1)) return;
  const auto flips = FlipCounter::start<A>(state);
  for (auto _ : state) {
    void* object = A::template alloc<N>();
    if (object == nullptr) {
      state.SkipWithError(refusal(A::name, N, 0).c_str());
      break;
    }
    touch<N>(object);
    A::template release<N>(object);
  }
  flips.stop(state, 1);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["pairs"] = benchmark::Counter(1, benchmark::Counter::kAvgThreads);
}

// Patterns b (one thread) and c (->Threads(2)).
template <class A, std::size_t N>
void Batch(benchmark::State& state) {
  constexpr std::size_t kLive = batch_of(N);
  std::vector<std::size_t> order(kLive);
  for (std::size_t i = 0; i < kLive; ++i) order[i] = i;
  std::mt19937_64 random(0x5ec817 + static_cast<unsigned>(state.thread_index()));
  std::shuffle(order.begin(), order.end(), random);
  std::vector<void*> objects(kLive, nullptr);

  if (!probe<A, N>(state, kLive)) return;
  const auto flips = FlipCounter::start<A>(state);
  for (auto _ : state) {
    std::size_t live = 0;
    for (; live < kLive; ++live) {
      void* object = A::template alloc<N>();
      if (object == nullptr) break;
      touch<N>(object);
      objects[live] = object;
    }
    if (live < kLive) {  // the allocator ran out (Botan's fixed pool): say so, do not time it
      for (std::size_t i = 0; i < live; ++i) A::template release<N>(objects[i]);
      state.SkipWithError(refusal(A::name, N, live).c_str());
      break;
    }
    for (std::size_t i = 0; i < kLive; ++i) A::template release<N>(objects[order[i]]);
  }
  flips.stop(state, kLive);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kLive));
  state.counters["pairs"] = benchmark::Counter(kLive, benchmark::Counter::kAvgThreads);
}

// ---------------------------------------------------------------------------
// Registration: pattern, then size, then allocator, so that the columns
// compared with each other are measured close together in time.

using Function = void (*)(benchmark::State&);

struct Entry {
  std::string allocator;
  double min_time;
  std::size_t size;
  Function alloc_free;
  Function batch;
};

template <class A, std::size_t... I>
void add_allocator(std::vector<Entry>& entries, bool secbits_only, std::index_sequence<I...>) {
  if (secbits_only && !A::is_secbits) return;
  const std::string name = std::string(A::name) + (A::is_secbits ? g_secbits_suffix : std::string());
  (entries.push_back(Entry{name, A::min_time, kSizes[I], &AllocFree<A, kSizes[I]>, &Batch<A, kSizes[I]>}), ...);
}

template <class... A>
std::vector<Entry> all_entries(bool secbits_only) {
  std::vector<Entry> entries;
  (add_allocator<A>(entries, secbits_only, std::make_index_sequence<std::size(kSizes)>{}), ...);
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& l, const Entry& r) { return l.size < r.size; });
  return entries;
}

void register_all(bool secbits_only) {
  const auto entries = all_entries<SecbitsC, SecbitsCpp, Glibc, Jemalloc, Botan2, OpenSsl, Sodium>(secbits_only);
  for (const char* pattern : {"a", "b", "c"}) {
    for (const Entry& e : entries) {
      const std::string name = std::string(pattern) + "/" + e.allocator + "/" + std::to_string(e.size);
      const bool single = pattern[0] == 'a';
      auto* b = benchmark::RegisterBenchmark(name.c_str(), single ? e.alloc_free : e.batch);
      b->UseRealTime()->Unit(single ? benchmark::kNanosecond : benchmark::kMicrosecond);
      if (pattern[0] == 'c') b->Threads(2);
      if (e.min_time > 0) b->MinTime(e.min_time);
    }
  }
}

/// Bytes Botan's mlock pool can hand out: 256-byte blocks until it refuses.
std::size_t botan_pool_bytes() {
  auto& pool = Botan::mlock_allocator::instance();
  std::vector<void*> blocks;
  while (void* block = pool.allocate(256, 1)) blocks.push_back(block);
  for (void* block : blocks) pool.deallocate(block, 256, 1);
  return blocks.size() * 256;
}

const char* source_name(secbits_page_source source) {
  switch (source) {
    case SECBITS_SOURCE_SECRET: return "secret";
    case SECBITS_SOURCE_AUTO: return "auto";
    case SECBITS_SOURCE_ANONYMOUS: break;
  }
  return "anonymous";
}

/// Takes --source=VALUE out of argv (Google Benchmark rejects flags it does
/// not know) and sets the pool's page source. Before the pool's first
/// allocation: nothing in this process has called secbits_* yet.
bool take_source_option(int& argc, char** argv) {
  const char* wanted = nullptr;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--source=", 9) == 0) {
      wanted = argv[i] + 9;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  argv[argc] = nullptr;
  if (wanted == nullptr) return true;
  secbits_page_source source;
  if (std::strcmp(wanted, "anonymous") == 0) source = SECBITS_SOURCE_ANONYMOUS;
  else if (std::strcmp(wanted, "secret") == 0) source = SECBITS_SOURCE_SECRET;
  else if (std::strcmp(wanted, "auto") == 0) source = SECBITS_SOURCE_AUTO;
  else {
    std::fprintf(stderr, "secbits_pool_bench: --source must be anonymous, secret or auto, not '%s'\n", wanted);
    return false;
  }
  if (secbits_set_page_source(source) != 0) {
    std::fprintf(stderr, "secbits_pool_bench: secbits_set_page_source(%s) failed: %s\n", wanted,
                 std::strerror(errno));
    return false;
  }
  return true;
}

/// SECBITS_BENCH_HARDENING=N: secbits_set_hardening(N) before the pool's
/// first allocation. False (and a message) if the value is not a level or the
/// pool refuses it.
bool take_hardening_variable() {
  const char* wanted = std::getenv("SECBITS_BENCH_HARDENING");
  if (wanted == nullptr || wanted[0] == '\0') return true;
  if (wanted[0] < '0' || wanted[0] > '9' || wanted[1] != '\0') {
    std::fprintf(stderr, "secbits_pool_bench: SECBITS_BENCH_HARDENING must be 0, 1, 2 or 3, not '%s'\n", wanted);
    return false;
  }
  if (secbits_set_hardening(wanted[0] - '0') != 0) {
    std::fprintf(stderr, "secbits_pool_bench: secbits_set_hardening(%s) failed: %s\n", wanted,
                 std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (!take_hardening_variable()) return 1;
  if (!take_source_option(argc, argv)) return 1;
  // What the pool will use (auto resolved), before anything is registered.
  const secbits_page_source source = secbits_get_page_source();
  const bool secret = source == SECBITS_SOURCE_SECRET;
  g_secbits_suffix = secret ? "_secret" : "";
  if (sodium_init() < 0) {
    std::fprintf(stderr, "secbits_pool_bench: sodium_init failed\n");
    return 1;
  }
  // 1: heap made and locked; 2: made, but mlock failed; 0: failed.
  const int openssl_init = CRYPTO_secure_malloc_init(kOpenSslHeap, kOpenSslMinSize);
  if (openssl_init == 0) {
    std::fprintf(stderr, "secbits_pool_bench: CRYPTO_secure_malloc_init failed\n");
    return 1;
  }
  benchmark::AddCustomContext("openssl_secure_heap",
                              std::to_string(kOpenSslHeap >> 20) + " MiB, minsize " + std::to_string(kOpenSslMinSize) +
                                  (openssl_init == 1 ? ", locked" : ", NOT locked (mlock failed)"));
  benchmark::AddCustomContext("botan_mlock_pool_bytes", std::to_string(botan_pool_bytes()));
  benchmark::AddCustomContext("batch_objects_per_thread", std::to_string(kBatch));
  benchmark::AddCustomContext("process_malloc", "jemalloc (glibc measured via __libc_malloc/__libc_free)");
  benchmark::AddCustomContext("secbits_page_source", source_name(source));
  benchmark::AddCustomContext("secbits_hardening", std::to_string(secbits_get_hardening()));

  register_all(/*secbits_only=*/secret);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  struct secbits_stats stats{};
  secbits_stats(&stats);
  std::fprintf(stderr,
               "secbits pool after the run: committed %zu B, locked %zu B, unlocked %zu B, lock failures %zu, "
               "slabs %zu, vmas %zu, protection flips %zu, flips skipped %zu, page source %s, hardening level %d\n",
               stats.bytes_committed, stats.bytes_locked, stats.bytes_unlocked, stats.lock_failures, stats.slabs,
               stats.vmas, stats.protection_flips, stats.flips_skipped, source_name(secbits_get_page_source()),
               secbits_get_hardening());
  return 0;
}
