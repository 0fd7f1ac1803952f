// churn: one thread, many small objects made and destroyed the way ordinary
// C++ code makes them (after the single-threaded small-object benchmarks:
// cfrac, espresso, and mimalloc-bench's `alloc-test`): hash-map entries,
// strings on both sides of the small-string limit, tree nodes, list nodes,
// short-lived vectors of tokens. About 300,000 objects stay live; about 15
// million are made and destroyed.
#include <algorithm>
#include <list>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.hpp"

namespace {

std::string make_string(wp::Rng& rng) {
  // Half below libstdc++'s 15-character inline limit, half on the heap.
  const std::size_t length = (rng.next() & 1) ? rng.range(1, 15) : rng.range(16, 160);
  std::string s(length, 'a');
  for (std::size_t i = 0; i < length; i += 7) s[i] = static_cast<char>('a' + rng.next() % 26);
  return s;
}

struct Item {
  std::uint64_t id;
  std::string name;
  std::vector<std::uint32_t> values;
};

}  // namespace

int main(int argc, char** argv) {
  const auto steps = static_cast<std::size_t>(1'500'000 * wp::scale(argc, argv));
  wp::Rng rng(7);
  std::unordered_map<std::uint64_t, std::string> table;
  std::map<std::string, std::uint64_t> index;
  std::list<Item> recent;
  std::uint64_t sum = 0;

  for (std::size_t step = 0; step < steps; ++step) {
    // The hash map: about 150,000 keys live, each step inserts or erases one.
    {
      const std::uint64_t key = rng.next() % 300'000;
      auto it = table.find(key);
      if (it == table.end()) {
        table.emplace(key, make_string(rng));
      } else if (rng.next() & 1) {
        sum += wp::mix(it->second.size() ^ static_cast<unsigned char>(it->second[0]));
        table.erase(it);
      } else {
        it->second += make_string(rng);  // grows, reallocating
        if (it->second.size() > 400) it->second.resize(8);
      }
    }
    // The ordered index: string keys, about 60,000 live.
    {
      std::string key = make_string(rng);
      key.push_back(static_cast<char>('0' + step % 10));
      if (index.size() < 60'000 || (rng.next() & 1)) {
        index[std::move(key)] += step;
      } else {
        auto it = index.lower_bound(key);
        if (it == index.end()) it = index.begin();
        sum += it->second;
        index.erase(it);
      }
    }
    // A queue of recent items, each with a small vector, about 4,000 live.
    {
      Item item{step, make_string(rng), {}};
      const std::size_t n = rng.range(0, 24);
      for (std::size_t i = 0; i < n; ++i) item.values.push_back(static_cast<std::uint32_t>(rng.next()));
      recent.push_back(std::move(item));
      if (recent.size() > 4000) {
        const Item& old = recent.front();
        sum += wp::mix(old.id + old.name.size() + old.values.size());
        recent.pop_front();
      }
    }
    // Every 64 steps: split a line into tokens, sort them, throw them away.
    if (step % 64 == 0) {
      std::string line;
      for (int i = 0; i < 100; ++i) {
        line += make_string(rng);
        line += ' ';
      }
      std::vector<std::string> tokens;
      std::size_t start = 0;
      for (std::size_t pos; (pos = line.find(' ', start)) != std::string::npos; start = pos + 1) {
        tokens.emplace_back(line, start, pos - start);
      }
      std::sort(tokens.begin(), tokens.end());
      sum += wp::mix(tokens.front().size() + tokens.back().size() + tokens.size());
    }
    // Raw C blocks: a burst of small mallocs, freed in another order.
    if (step % 16 == 0) {
      void* blocks[32];
      std::size_t sizes[32];
      std::uint64_t tags[32];
      for (int i = 0; i < 32; ++i) {
        sizes[i] = rng.range(8, 256);
        tags[i] = rng.next();
        blocks[i] = wp::checked(std::malloc(sizes[i]));
        wp::stamp(blocks[i], sizes[i], tags[i]);
      }
      for (int i = 0; i < 32; ++i) {
        const int j = (i * 13) % 32;
        sum += wp::unstamp(blocks[j], sizes[j], tags[j]);
        std::free(blocks[j]);
      }
    }
  }
  for (const auto& [key, value] : table) sum += wp::mix(key ^ value.size());
  for (const auto& [key, value] : index) sum += wp::mix(key.size() ^ value);
  wp::print_checksum("churn", sum);
}
