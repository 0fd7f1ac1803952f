#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

// The fuzz input, read front to back. Running out of bytes is not an error:
// every read then gives zeros, so any input is a valid program and the seeds
// in corpus/ can be written by hand (make_corpus.py) in the same order as
// the targets read them.
namespace secbits::fuzz {

class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) noexcept : bytes_(data, size) {}

  bool empty() const noexcept { return bytes_.empty(); }
  std::size_t remaining() const noexcept { return bytes_.size(); }

  std::uint8_t byte() noexcept {
    if (bytes_.empty()) return 0;
    const std::uint8_t value = bytes_.front();
    bytes_ = bytes_.subspan(1);
    return value;
  }

  /// Little-endian, `count` bytes.
  std::uint64_t little_endian(unsigned count) noexcept {
    std::uint64_t value = 0;
    for (unsigned i = 0; i < count; ++i) value |= std::uint64_t{byte()} << (8 * i);
    return value;
  }
  std::uint16_t u16() noexcept { return static_cast<std::uint16_t>(little_endian(2)); }
  std::uint32_t u32() noexcept { return static_cast<std::uint32_t>(little_endian(4)); }
  std::uint64_t u64() noexcept { return little_endian(8); }

  /// One byte, reduced to [0, bound).
  unsigned below(unsigned bound) noexcept { return byte() % bound; }

  /// Up to `count` bytes, fewer at the end of the input.
  std::span<const std::uint8_t> take(std::size_t count) noexcept {
    const std::span<const std::uint8_t> taken = bytes_.first(count < bytes_.size() ? count : bytes_.size());
    bytes_ = bytes_.subspan(taken.size());
    return taken;
  }

 private:
  std::span<const std::uint8_t> bytes_;
};

}  // namespace secbits::fuzz
