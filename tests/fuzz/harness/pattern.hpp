#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

// The content a target writes into a block and checks later: 64-bit words,
// each a hash of its position and the block's seed, so that a copy that is
// shifted, truncated, or that came from another block does not match.
//
// The loops work a word at a time and are left out of AddressSanitizer and
// of the fuzzer's coverage: pool memory is not ASan's (the pool's guard
// pages catch overruns), and a comparison traced per byte would spend most
// of the run here.
namespace secbits::fuzz {

__attribute__((always_inline, no_sanitize("address", "coverage"))) inline std::uint64_t pattern_word(
    std::uint64_t seed, std::size_t index) noexcept {
  std::uint64_t word = (seed + 1) * 0xD1B54A32D192ED03ull + index * 0x9E3779B97F4A7C15ull;
  return word ^ (word >> 29);
}

__attribute__((no_sanitize("address", "coverage"))) inline void fill_pattern(void* block, std::size_t size,
                                                                             std::uint64_t seed) noexcept {
  auto* bytes = static_cast<std::byte*>(block);
  std::size_t index = 0;
  for (; (index + 1) * 8 <= size; ++index) {
    const std::uint64_t word = pattern_word(seed, index);
    std::memcpy(bytes + index * 8, &word, 8);
  }
  if (const std::size_t tail = size - index * 8; tail != 0) {
    const std::uint64_t last = pattern_word(seed, index);
    std::memcpy(bytes + index * 8, &last, tail);
  }
}

/// Index of the first byte that differs from the pattern, or `size`.
__attribute__((no_sanitize("address", "coverage"))) inline std::size_t pattern_mismatch(const void* block,
                                                                                        std::size_t size,
                                                                                        std::uint64_t seed) noexcept {
  const auto* bytes = static_cast<const std::byte*>(block);
  std::size_t index = 0;
  std::uint64_t expected = 0;
  std::uint64_t found = 0;
  for (; (index + 1) * 8 <= size; ++index) {
    expected = pattern_word(seed, index);
    std::memcpy(&found, bytes + index * 8, 8);
    if (found != expected) break;
  }
  if ((index + 1) * 8 > size) {
    const std::size_t tail = size - index * 8;
    if (tail == 0) return size;
    expected = pattern_word(seed, index) & (~std::uint64_t{0} >> (64 - 8 * tail));
    found = 0;
    std::memcpy(&found, bytes + index * 8, tail);
    if (found == expected) return size;
  }
  std::size_t byte = 0;
  while (((found ^ expected) >> (8 * byte) & 0xff) == 0) ++byte;
  return index * 8 + byte;
}

/// Index of the first byte that is not zero, or `size`.
__attribute__((no_sanitize("address", "coverage"))) inline std::size_t first_nonzero(const void* block,
                                                                                     std::size_t size) noexcept {
  const auto* bytes = static_cast<const std::byte*>(block);
  std::size_t index = 0;
  for (; index + 64 <= size; index += 64) {
    std::uint64_t words[8];
    std::memcpy(words, bytes + index, 64);
    std::uint64_t any = 0;
    for (const std::uint64_t word : words) any |= word;
    if (any != 0) break;
  }
  for (; index < size; ++index) {
    if (bytes[index] != std::byte{0}) return index;
  }
  return size;
}

}  // namespace secbits::fuzz
