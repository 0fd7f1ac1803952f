// SecBytes and its views against a model std::string: two buffers, appends
// from each source type (checked to be wiped after, untouched on failure),
// clear, moves and fresh buffers, nested read views (kept, moved, ended in
// any order, read from other threads), a write view that edits the content,
// and every operation the borrow rule forbids while a view is open (it must
// throw secbits::Error with device_or_resource_busy and change nothing).
//
// Never destroyed or moved with a view open: that aborts by design.
//
// Input: operations, each an opcode byte, a buffer byte, then arguments (see
// `run`).
#include <secbits/error.hpp>
#include <secbits/secbytes.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "harness/check.hpp"
#include "harness/input.hpp"
#include "harness/pattern.hpp"

namespace {

using namespace secbits::fuzz;
using secbits::SecBytes;
using secbits::SecReadView;
using secbits::SecWriteView;

constexpr std::size_t kMaxOperations = 256;
constexpr std::size_t kMaxContent = std::size_t{1} << 20;
constexpr std::size_t kPage = 4096;

struct Buffer {
  SecBytes bytes;
  std::string model;
  // Declared after the buffer, so they end first whatever happens.
  std::list<SecReadView> reads;
  std::optional<SecWriteView> writer;

  bool has_view() const { return !reads.empty() || writer.has_value(); }
};

enum Opcode : std::uint8_t {
  kAppendSpan,    // [length, bytes...]
  kAppendString,  // [length, spare, bytes...]: spare * 8 bytes of extra capacity
  kAppendVector,  // [length, spare, bytes...]
  kAppendLarge,   // [length u32, seed]: up to 256 KiB, to cross pages and grow
  kClear,         // []
  kRead,          // []: opens one more read view
  kEndRead,       // [index, move]: ends a read view, or moves it (odd `move`)
  kWrite,         // []: opens the write view
  kWriteThrough,  // [offset u16, length, bytes...]
  kEndWrite,      // [move]: ends the write view, moving it first (odd `move`)
  kCheckViews,    // []
  kMove,          // [to]: the other buffer, or itself
  kReset,         // [capacity u32]: a new buffer of at least that capacity
  kOverflow,      // [extra]: an append whose length overflows size_t
  kThreadedRead,  // []: two threads read at once
  kOpcodeCount
};

bool is_busy(const secbits::Error& error) { return error.code() == std::errc::device_or_resource_busy; }

/// Out of locked memory (no CAP_IPC_LOCK) or address space: allowed, if
/// nothing changed.
bool is_out_of_memory(const secbits::Error& error) {
  return error.code() == std::errc::not_enough_memory || error.code() == std::errc::resource_unavailable_try_again ||
         error.code() == std::errc::operation_not_permitted;
}

bool same_bytes(const std::byte* data, std::size_t size, const std::string& model) {
  return size == model.size() && (size == 0 || std::memcmp(data, model.data(), size) == 0);
}

bool all_zero(const void* data, std::size_t size) { return size == 0 || first_nonzero(data, size) == size; }

class Target {
 public:
  void run(Input& in) {
    for (std::size_t done = 0; done < kMaxOperations && !in.empty(); ++done) {
      const auto opcode = static_cast<Opcode>(in.byte() % kOpcodeCount);
      const unsigned index = in.below(2);
      Buffer& buffer = buffers_[index];
      switch (opcode) {
        case kAppendSpan: {
          std::vector<std::byte> source = take_bytes(in, in.byte());
          append_span(buffer, source);
          break;
        }
        case kAppendString:
          append_string(buffer, in);
          break;
        case kAppendVector:
          append_vector(buffer, in);
          break;
        case kAppendLarge: {
          std::vector<std::byte> source(in.u32() % ((std::size_t{256} << 10) + 1));
          fill_pattern(source.data(), source.size(), in.byte());
          append_span(buffer, source);
          break;
        }
        case kClear:
          clear(buffer);
          break;
        case kRead:
          read(buffer);
          break;
        case kEndRead: {
          const std::size_t which = in.byte();
          end_read(buffer, which, in.byte() % 2 == 1);
          break;
        }
        case kWrite:
          write(buffer);
          break;
        case kWriteThrough:
          write_through(buffer, in);
          break;
        case kEndWrite:
          end_write(buffer, in.byte() % 2 == 1);
          break;
        case kCheckViews:
          check_views(buffer);
          break;
        case kMove:
          move(buffer, buffers_[in.below(2)]);
          break;
        case kReset:
          reset(buffer, in.u32() % (kMaxContent + 1));
          break;
        case kOverflow:
          overflow(buffer, in.byte());
          break;
        case kThreadedRead:
          threaded_read(buffer);
          break;
        case kOpcodeCount:
          break;
      }
    }
    for (Buffer& buffer : buffers_) {
      check_views(buffer);
      buffer.reads.clear();
      buffer.writer.reset();
      check_content(buffer);
    }
  }

 private:
  static std::vector<std::byte> take_bytes(Input& in, std::size_t length) {
    std::vector<std::byte> bytes(length);
    const std::span<const std::uint8_t> taken = in.take(length);
    std::transform(taken.begin(), taken.end(), bytes.begin(), [](std::uint8_t b) { return std::byte{b}; });
    return bytes;
  }

  /// What the borrow rule says of a change while a view is open.
  template <class Change>
  static void expect_busy(Buffer& buffer, const char* operation, Change change) {
    const std::size_t size = buffer.bytes.size();
    const std::size_t capacity = buffer.bytes.capacity();
    try {
      change();
    } catch (const secbits::Error& error) {
      SECBITS_FUZZ_CHECK(is_busy(error), "%s during a view threw '%s'", operation, error.what());
      SECBITS_FUZZ_CHECK(buffer.bytes.size() == size && buffer.bytes.capacity() == capacity,
                         "%s during a view changed the size or capacity", operation);
      return;
    }
    SECBITS_FUZZ_CHECK(false, "%s during a view did not throw", operation);
  }

  /// Runs an append: `appended` is what the model gains on success.
  template <class Append>
  static bool try_append(Buffer& buffer, const char* operation, Append append) {
    if (buffer.has_view()) {
      expect_busy(buffer, operation, append);
      return false;
    }
    const std::size_t size = buffer.bytes.size();
    const std::size_t capacity = buffer.bytes.capacity();
    try {
      append();
    } catch (const secbits::Error& error) {
      SECBITS_FUZZ_CHECK(is_out_of_memory(error), "%s threw '%s'", operation, error.what());
      SECBITS_FUZZ_CHECK(buffer.bytes.size() == size && buffer.bytes.capacity() == capacity,
                         "a failed %s changed the buffer", operation);
      return false;
    }
    return true;
  }

  void append_span(Buffer& buffer, std::vector<std::byte>& source) {
    if (buffer.model.size() + source.size() > kMaxContent) return;
    const std::vector<std::byte> original = source;
    const std::size_t capacity = buffer.bytes.capacity();
    // An empty vector has no storage: the span's data() is null then.
    const std::span<std::byte> span(source);
    if (!try_append(buffer, "append(span)", [&] { buffer.bytes.append(span); })) {
      SECBITS_FUZZ_CHECK(source == original, "a refused append(span) changed its source");
      return;
    }
    SECBITS_FUZZ_CHECK(all_zero(source.data(), source.size()), "append(span) left its source readable");
    for (const std::byte b : original) buffer.model.push_back(static_cast<char>(b));
    check_growth(buffer, capacity);
  }

  void append_string(Buffer& buffer, Input& in) {
    const std::size_t length = in.byte();
    std::string source;
    source.reserve(length + std::size_t{in.byte()} * 8);
    const std::span<const std::uint8_t> taken = in.take(length);
    source.assign(taken.begin(), taken.end());
    source.resize(length, 'x');
    if (buffer.model.size() + source.size() > kMaxContent) return;
    const std::string original = source;
    const std::size_t capacity = buffer.bytes.capacity();
    if (!try_append(buffer, "append(string)", [&] { buffer.bytes.append(source); })) {
      SECBITS_FUZZ_CHECK(source == original, "a refused append(string) changed its source");
      return;
    }
    // The whole capacity: bytes past size() may hold an earlier, longer value.
    SECBITS_FUZZ_CHECK(source.empty() && all_zero(source.data(), source.capacity()),
                       "append(string) left %zu bytes, or did not wipe its capacity of %zu", source.size(),
                       source.capacity());
    buffer.model += original;
    check_growth(buffer, capacity);
  }

  void append_vector(Buffer& buffer, Input& in) {
    const std::size_t length = in.byte();
    std::vector<unsigned char> source;
    source.reserve(length + std::size_t{in.byte()} * 8);
    const std::span<const std::uint8_t> taken = in.take(length);
    source.assign(taken.begin(), taken.end());
    source.resize(length, 'x');
    if (buffer.model.size() + source.size() > kMaxContent) return;
    const std::vector<unsigned char> original = source;
    const std::size_t capacity = buffer.bytes.capacity();
    if (!try_append(buffer, "append(vector)", [&] { buffer.bytes.append(source); })) {
      SECBITS_FUZZ_CHECK(source == original, "a refused append(vector) changed its source");
      return;
    }
    SECBITS_FUZZ_CHECK(source.empty() && all_zero(source.data(), source.capacity()),
                       "append(vector) left %zu bytes, or did not wipe its capacity of %zu", source.size(),
                       source.capacity());
    buffer.model.append(original.begin(), original.end());
    check_growth(buffer, capacity);
  }

  /// Whole pages, enough for the content, and a growth at least doubles.
  static void check_growth(const Buffer& buffer, std::size_t old_capacity) {
    const std::size_t capacity = buffer.bytes.capacity();
    SECBITS_FUZZ_CHECK(buffer.bytes.size() == buffer.model.size(), "size %zu, model %zu", buffer.bytes.size(),
                       buffer.model.size());
    SECBITS_FUZZ_CHECK(capacity >= buffer.bytes.size() && capacity % kPage == 0, "capacity %zu for size %zu", capacity,
                       buffer.bytes.size());
    SECBITS_FUZZ_CHECK(capacity == old_capacity || capacity >= 2 * old_capacity, "capacity grew from %zu to %zu",
                       old_capacity, capacity);
    SECBITS_FUZZ_CHECK(buffer.bytes.is_locked(), "a strict buffer is not locked");
  }

  void clear(Buffer& buffer) {
    if (buffer.has_view()) {
      expect_busy(buffer, "clear", [&] { buffer.bytes.clear(); });
      return;
    }
    const std::size_t capacity = buffer.bytes.capacity();
    buffer.bytes.clear();
    buffer.model.clear();
    SECBITS_FUZZ_CHECK(buffer.bytes.empty() && buffer.bytes.capacity() == capacity, "clear: size %zu, capacity %zu",
                       buffer.bytes.size(), buffer.bytes.capacity());
  }

  void read(Buffer& buffer) {
    const SecBytes& shared = buffer.bytes;
    if (buffer.writer) {
      expect_busy(buffer, "read", [&] { (void)shared.read(); });
      return;
    }
    buffer.reads.push_back(shared.read());
    const SecReadView& view = buffer.reads.back();
    SECBITS_FUZZ_CHECK(same_bytes(view.data(), view.size(), buffer.model), "a new read view (%zu bytes) differs",
                       view.size());
  }

  void end_read(Buffer& buffer, std::size_t which, bool move) {
    if (buffer.reads.empty()) return;
    auto view = std::next(buffer.reads.begin(), static_cast<std::ptrdiff_t>(which % buffer.reads.size()));
    // A moved-from view ends nothing: the pages must stay readable for the others.
    if (move) buffer.reads.push_back(std::move(*view));
    buffer.reads.erase(view);
    check_views(buffer);
  }

  void write(Buffer& buffer) {
    if (buffer.has_view()) {
      expect_busy(buffer, "write", [&] { (void)buffer.bytes.write(); });
      return;
    }
    buffer.writer.emplace(buffer.bytes.write());
    SECBITS_FUZZ_CHECK(same_bytes(buffer.writer->data(), buffer.writer->size(), buffer.model),
                       "a new write view differs");
  }

  void write_through(Buffer& buffer, Input& in) {
    const std::size_t offset = in.u16();
    std::vector<std::byte> bytes = take_bytes(in, in.byte());
    if (!buffer.writer || buffer.model.empty()) return;
    const std::size_t at = offset % buffer.model.size();
    const std::size_t length = std::min(bytes.size(), buffer.model.size() - at);
    if (length == 0) return;
    std::memcpy(buffer.writer->data() + at, bytes.data(), length);
    std::memcpy(buffer.model.data() + at, bytes.data(), length);
  }

  void end_write(Buffer& buffer, bool move) {
    if (!buffer.writer) return;
    if (move) {
      SecWriteView moved(std::move(*buffer.writer));
      buffer.writer.reset();  // the moved-from view: must not close the pages
      SECBITS_FUZZ_CHECK(same_bytes(moved.data(), moved.size(), buffer.model), "a moved write view differs");
      buffer.writer.emplace(std::move(moved));
    }
    buffer.writer.reset();
    check_content(buffer);
  }

  static void check_views(const Buffer& buffer) {
    for (const SecReadView& view : buffer.reads) {
      SECBITS_FUZZ_CHECK(same_bytes(view.data(), view.size(), buffer.model), "a read view (%zu bytes) differs",
                         view.size());
    }
    if (buffer.writer) {
      SECBITS_FUZZ_CHECK(same_bytes(buffer.writer->data(), buffer.writer->size(), buffer.model),
                         "the write view differs");
    }
    SECBITS_FUZZ_CHECK(buffer.bytes.size() == buffer.model.size(), "size %zu, model %zu", buffer.bytes.size(),
                       buffer.model.size());
  }

  /// Through a view of its own; only when no write view is open.
  static void check_content(const Buffer& buffer) {
    if (buffer.writer) return;
    const SecReadView view = buffer.bytes.read();
    SECBITS_FUZZ_CHECK(same_bytes(view.data(), view.size(), buffer.model), "content (%zu bytes) differs from the model",
                       view.size());
  }

  void move(Buffer& from, Buffer& to) {
    if (from.has_view() || to.has_view()) return;  // aborts by design
    to.bytes = std::move(from.bytes);
    if (&from == &to) {
      check_content(to);
      return;
    }
    to.model = std::move(from.model);
    from.model.clear();
    SECBITS_FUZZ_CHECK(from.bytes.empty() && from.bytes.capacity() == 0, "a moved-from buffer has %zu of %zu bytes",
                       from.bytes.size(), from.bytes.capacity());
    check_content(to);
    check_content(from);
  }

  void reset(Buffer& buffer, std::size_t capacity) {
    if (buffer.has_view()) return;  // aborts by design
    try {
      buffer.bytes = SecBytes(capacity);
    } catch (const secbits::Error& error) {
      SECBITS_FUZZ_CHECK(is_out_of_memory(error), "SecBytes(%zu) threw '%s'", capacity, error.what());
      return;
    }
    buffer.model.clear();
    SECBITS_FUZZ_CHECK(buffer.bytes.empty() && buffer.bytes.capacity() >= capacity &&
                           buffer.bytes.capacity() % kPage == 0 && buffer.bytes.capacity() < capacity + 2 * kPage,
                       "SecBytes(%zu): size %zu, capacity %zu", capacity, buffer.bytes.size(), buffer.bytes.capacity());
  }

  /// size() + length overflows size_t: value_too_large (or busy during a
  /// view), and neither the buffer nor the source changes. The source's
  /// length is a lie the library must reject before reading a byte.
  void overflow(Buffer& buffer, std::uint8_t extra) {
    if (buffer.bytes.empty()) return;
    std::array<std::byte, 16> source{};
    source.fill(std::byte{0x5a});
    // From SIZE_MAX - size() + 1 (the least that overflows) to SIZE_MAX.
    const std::size_t length = SIZE_MAX - extra % buffer.bytes.size();
    const std::span<std::byte> lie(source.data(), length);
    if (buffer.has_view()) {
      expect_busy(buffer, "an overflowing append", [&] { buffer.bytes.append(lie); });
    } else {
      const std::size_t capacity = buffer.bytes.capacity();
      try {
        buffer.bytes.append(lie);
        SECBITS_FUZZ_CHECK(false, "an append of %zu bytes to %zu did not throw", length, buffer.bytes.size());
      } catch (const secbits::Error& error) {
        SECBITS_FUZZ_CHECK(error.code() == std::errc::value_too_large, "an overflowing append threw '%s'",
                           error.what());
      }
      SECBITS_FUZZ_CHECK(buffer.bytes.size() == buffer.model.size() && buffer.bytes.capacity() == capacity,
                         "an overflowing append changed the buffer");
      check_content(buffer);
    }
    for (const std::byte b : source) SECBITS_FUZZ_CHECK(b == std::byte{0x5a}, "an overflowing append wiped its source");
  }

  /// read() on one const SecBytes from two threads at once, beside the
  /// views this thread may hold.
  void threaded_read(Buffer& buffer) {
    if (buffer.writer) return;
    const SecBytes& shared = buffer.bytes;
    const std::string& model = buffer.model;
    auto reader = [&shared, &model] {
      for (int i = 0; i < 4; ++i) {
        const SecReadView view = shared.read();
        SECBITS_FUZZ_CHECK(same_bytes(view.data(), view.size(), model), "a read view on another thread differs");
      }
    };
    std::thread first(reader);
    std::thread second(reader);
    first.join();
    second.join();
    check_views(buffer);
  }

  std::array<Buffer, 2> buffers_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  Target target;
  target.run(in);
  return 0;
}
