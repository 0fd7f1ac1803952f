/* One memory bug of a C program, chosen by name, done once under the
 * interposer (misuse_test.sh runs each at every hardening level). A bug the
 * pool does not stop ends with "survived" on stdout and exit status 0; a
 * reuse bug first says whether the freed block's address came back.
 *
 * Output goes through write(2), never stdio: a stdio buffer is itself a
 * malloc, which would take part in the bug.
 *
 * Usage: misuse BUG        (misuse with no argument lists the bugs) */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
  kSmall = 40,           /* a small class's block: 48 bytes, or 40 and a canary at level 3 */
  kMedium = 3000,        /* 3072-byte class at every level: 72 (64 at level 3) bytes to spare */
  kMediumFull = 3064,    /* fills the 3072-byte class at level 3, with its canary */
  kMediumSlabFull = (56 << 10) - 8, /* fills a medium slab class (56 KiB) at level 3, with its canary */
  kLarge = 128 << 10,    /* above the slab classes: page-rounded, a guard page after it */
  kQuarantine = 16,      /* blocks each thread holds back at level 2 and up */
};

/* Hides where a pointer came from, so that the compiler neither warns about
 * the bug (-Warray-bounds, -Wuse-after-free) nor optimises it away. */
static void* opaque(void* pointer) {
  __asm__ volatile("" : "+r"(pointer));
  return pointer;
}

/* Frees the block after the bug's bytes have reached it: a store just before
 * free() is dead to the compiler, which would drop it. */
static void release(void* block) {
  __asm__ volatile("" : : "r"(block) : "memory");
  free(block);
}

/* Frees the block and hands back a pointer to it that the compiler does not
 * know is dangling. */
static char* freed(char* block) {
  char* kept = opaque(block);
  free(block);
  return kept;
}

static void say(const char* line) {
  if (write(STDOUT_FILENO, line, strlen(line)) < 0) _exit(3);
}

static char* allocate(size_t size) {
  char* block = opaque(malloc(size));
  if (block == NULL) {
    say("malloc failed\n");
    _exit(2);
  }
  return block;
}

/* The byte a one-byte overflow writes: a string's terminator, the classic
 * off-by-one. Any other fixed byte would equal the canary's byte there once
 * in 128 runs (canary bytes are random and odd) and the bug would pass
 * unseen; a NUL never does. Longer overflows write 'A's, which a wiped
 * neighbour (level 2's zero check) sees too. */
static char overflow_byte(size_t by) { return by == 1 ? '\0' : 'A'; }

static void overflow_directly(size_t size, size_t by) {
  char* block = allocate(size);
  for (size_t i = 0; i < by; ++i) block[size + i] = overflow_byte(by);
  release(block);
}

static void overflow_by_memcpy(size_t size, size_t by) {
  static char source[kMediumFull + 32];
  memset(source, 'A', sizeof source);
  for (size_t i = 0; i < by; ++i) source[size + i] = overflow_byte(by);
  char* block = allocate(size);
  memcpy(block, opaque(source), size + by);
  release(block);
}

static void overflow_small_by_1(void) { overflow_directly(kSmall, 1); }
static void overflow_small_by_32(void) { overflow_directly(kSmall, 32); }

/* Into the next block, which is free; then that block is handed out. */
static void overflow_small_by_32_then_allocate(void) {
  overflow_directly(kSmall, 32);
  for (int i = 0; i < 128; ++i) (void)allocate(kSmall);
}

static void memcpy_small_by_1(void) { overflow_by_memcpy(kSmall, 1); }
static void memcpy_small_by_32(void) { overflow_by_memcpy(kSmall, 32); }
static void overflow_medium_by_1(void) { overflow_directly(kMedium, 1); }
static void overflow_medium_by_32(void) { overflow_directly(kMedium, 32); }
static void memcpy_medium_by_1(void) { overflow_by_memcpy(kMedium, 1); }
static void memcpy_medium_by_32(void) { overflow_by_memcpy(kMedium, 32); }
static void overflow_full_medium_by_1(void) { overflow_directly(kMediumFull, 1); }

/* One byte before a block that is not the first of its slab (the byte
 * before that one is the slab's guard page): the higher of two. */
static void underflow_by_1(void) {
  char* first = allocate(kSmall);
  char* second = allocate(kSmall);
  char* lower = first < second ? first : second;
  char* higher = first < second ? second : first;
  free(lower);
  higher = opaque(higher);
  higher[-1] = 'A';
  release(higher);
}

static void write_after_free(void) {
  char* block = freed(allocate(kSmall));
  block[0] = 'A';
}

/* Enough frees of the same size to push the block out of a quarantine, then
 * enough allocations to empty the 64-block word it went back to. */
static void write_after_free_then_allocate(void) {
  char* block = freed(allocate(kSmall));
  block[0] = 'A';
  for (int i = 0; i < 4 * kQuarantine; ++i) free(allocate(kSmall));
  for (int i = 0; i < 128; ++i) (void)allocate(kSmall);
}

static void read_zero_size(void) {
  volatile char* block = opaque(malloc(0));
  char seen = block[0];
  (void)seen;
  release((void*)block);
}

static void write_zero_size(void) {
  char* block = opaque(malloc(0));
  block[0] = 'A';
  release(block);
}

static void say_reused(const void* freed, const void* next) {
  say(freed == next ? "same address returned\n" : "another address returned\n");
}

static void reuse_after_free(void) {
  char* block = freed(allocate(kSmall));
  say_reused(block, allocate(kSmall));
}

static void reuse_after_realloc(void) {
  char* block = allocate(kSmall);
  char* kept = opaque(block);
  char* moved = opaque(realloc(block, 4 * kMedium));
  if (moved == kept) {
    say("realloc did not move the block\n");
    _exit(2);
  }
  say_reused(kept, allocate(kSmall));
  free(moved);
}

/* glibc 2.36 has no free_sized (C23): call the interposer's. */
static void free_sized_wrong_size(void) {
  void (*free_sized_of)(void*, size_t) = (void (*)(void*, size_t))dlsym(RTLD_DEFAULT, "free_sized");
  if (free_sized_of == NULL) {
    say("no free_sized in the process\n");
    _exit(2);
  }
  free_sized_of(allocate(kSmall), 10 * kSmall);
}

static void overflow_full_56k_by_1(void) { overflow_directly(kMediumSlabFull, 1); }
static void overflow_large_by_1(void) { overflow_directly(kLarge, 1); }

static void write_after_free_large(void) {
  char* block = freed(allocate(kLarge));
  block[0] = 'A';
}

static const struct {
  const char* name;
  void (*run)(void);
} kBugs[] = {
    {"overflow_small_by_1", overflow_small_by_1},
    {"overflow_small_by_32", overflow_small_by_32},
    {"overflow_small_by_32_then_allocate", overflow_small_by_32_then_allocate},
    {"memcpy_small_by_1", memcpy_small_by_1},
    {"memcpy_small_by_32", memcpy_small_by_32},
    {"overflow_medium_by_1", overflow_medium_by_1},
    {"overflow_medium_by_32", overflow_medium_by_32},
    {"memcpy_medium_by_1", memcpy_medium_by_1},
    {"memcpy_medium_by_32", memcpy_medium_by_32},
    {"overflow_full_medium_by_1", overflow_full_medium_by_1},
    {"underflow_by_1", underflow_by_1},
    {"write_after_free", write_after_free},
    {"write_after_free_then_allocate", write_after_free_then_allocate},
    {"read_zero_size", read_zero_size},
    {"write_zero_size", write_zero_size},
    {"reuse_after_free", reuse_after_free},
    {"reuse_after_realloc", reuse_after_realloc},
    {"free_sized_wrong_size", free_sized_wrong_size},
    {"overflow_full_56k_by_1", overflow_full_56k_by_1},
    {"overflow_large_by_1", overflow_large_by_1},
    {"write_after_free_large", write_after_free_large},
};

int main(int argc, char** argv) {
  for (size_t i = 0; i < sizeof kBugs / sizeof kBugs[0]; ++i) {
    if (argc < 2) {
      say(kBugs[i].name);
      say("\n");
    } else if (strcmp(argv[1], kBugs[i].name) == 0) {
      kBugs[i].run();
      say("survived\n");
      return 0;
    }
  }
  if (argc < 2) return 0;
  say("no such bug\n");
  return 2;
}
