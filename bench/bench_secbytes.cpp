// Cost of the foundation types: one guarded, locked region (SecMem) against
// libsodium's sodium_malloc, which does the same work per allocation; and the
// protection flips behind SecBytes views.
#include <secbits/secbits.hpp>

#include <benchmark/benchmark.h>
#include <sodium.h>

#include <cstring>
#include <string>

namespace {

void BM_SecMemCreateDestroy(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    secbits::SecMem memory(size);
    benchmark::DoNotOptimize(memory.data());
  }
}
BENCHMARK(BM_SecMemCreateDestroy)->Arg(32)->Arg(4096)->Arg(64 * 1024);

void BM_SodiumMallocFree(benchmark::State& state) {
  if (sodium_init() < 0) state.SkipWithError("sodium_init failed");
  const auto size = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void* p = sodium_malloc(size);
    benchmark::DoNotOptimize(p);
    sodium_free(p);
  }
}
BENCHMARK(BM_SodiumMallocFree)->Arg(32)->Arg(4096)->Arg(64 * 1024);

void BM_SecBytesReadViewOpenClose(benchmark::State& state) {
  std::string text(32, 'k');
  secbits::SecBytes secret;
  secret.append(text);
  for (auto _ : state) {
    auto view = secret.read();
    benchmark::DoNotOptimize(view.data()[0]);
  }
}
BENCHMARK(BM_SecBytesReadViewOpenClose);

void BM_SecBytesNestedReadView(benchmark::State& state) {
  std::string text(32, 'k');
  secbits::SecBytes secret;
  secret.append(text);
  auto outer = secret.read();  // keeps the pages open: inner views flip nothing
  for (auto _ : state) {
    auto view = secret.read();
    benchmark::DoNotOptimize(view.data()[0]);
  }
}
BENCHMARK(BM_SecBytesNestedReadView);

void BM_SecBytesAppendGrowTo1MiB(benchmark::State& state) {
  std::string chunk;
  for (auto _ : state) {
    secbits::SecBytes secret;
    for (std::size_t total = 0; total < (1u << 20); total += 1000) {
      chunk.assign(1000, 'x');
      secret.append(chunk);
    }
    benchmark::DoNotOptimize(secret.size());
  }
}
BENCHMARK(BM_SecBytesAppendGrowTo1MiB)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
