// The C++ side of misuse.c: one bug of new and delete, chosen by name, done
// once under the interposer. "survived" on stdout and exit status 0 when the
// pool does not stop it; output through write(2), as in misuse.c.
//
// Usage: misuse_new BUG        (misuse_new with no argument lists the bugs)
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <new>
#include <string_view>

namespace {

constexpr std::size_t kSmall = 40;

template <class T>
T* opaque(T* pointer) {
  __asm__ volatile("" : "+r"(pointer));
  return pointer;
}

// Deletes the block after the bug's bytes have reached it: a store just
// before a delete is dead to the compiler, which would drop it.
void release_array(char* block) {
  __asm__ volatile("" : : "r"(block) : "memory");
  delete[] block;
}

void say(std::string_view line) {
  if (::write(STDOUT_FILENO, line.data(), line.size()) < 0) _exit(3);
}

void read_new_zero() {
  auto* block = opaque(new char[0]);
  const char seen = *static_cast<volatile char*>(block);
  (void)seen;
  delete[] block;
}

void write_new_zero() {
  auto* block = opaque(new char[0]);
  block[0] = 'A';
  release_array(block);
}

// A delete through the wrong type: a size no request of the block's class
// could have given.
void sized_delete_wrong_size() { ::operator delete(opaque(::operator new(kSmall)), 10 * kSmall); }

// A size off by a few bytes, still within the block's class.
void sized_delete_size_within_class() { ::operator delete(opaque(::operator new(kSmall)), kSmall + 4); }

struct Bug {
  std::string_view name;
  void (*run)();
};
constexpr Bug kBugs[] = {
    {"read_new_zero", read_new_zero},
    {"write_new_zero", write_new_zero},
    {"sized_delete_wrong_size", sized_delete_wrong_size},
    {"sized_delete_size_within_class", sized_delete_size_within_class},
};

}  // namespace

int main(int argc, char** argv) {
  for (const Bug& bug : kBugs) {
    if (argc < 2) {
      say(bug.name);
      say("\n");
    } else if (bug.name == argv[1]) {
      bug.run();
      say("survived\n");
      return 0;
    }
  }
  if (argc < 2) return 0;
  say("no such bug\n");
  return 2;
}
