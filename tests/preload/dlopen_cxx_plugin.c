/* A C program (no libstdc++ of its own) that dlopen()s a C++ library after
 * start-up and has it new[] blocks: under the interposer, those blocks must
 * be in the secure pool (a mapping that smaps shows locked, lo, and
 * undumpable, dd), and the library's new[]/delete[] must be bound to the
 * interposer's definitions rather than libstdc++'s.
 * Usage: dlopen_cxx_plugin PATH/TO/plugin.so; exit status 0 when all holds. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures = 0;

static void fail(const char* what, const char* detail) {
  fprintf(stderr, "FAILED: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  ++failures;
}

/* The VmFlags line of the smaps entry that contains `address`, into `flags`;
 * 0 if no mapping contains it. */
static int vmflags_of(const void* address, char* flags, size_t size) {
  FILE* smaps = fopen("/proc/self/smaps", "r");
  if (smaps == NULL) return 0;
  const uintptr_t target = (uintptr_t)address;
  char line[512];
  int inside = 0, found = 0;
  while (fgets(line, sizeof line, smaps) != NULL) {
    unsigned long start, end;
    char dash_check;
    if (sscanf(line, "%lx-%lx %c", &start, &end, &dash_check) == 3 && strchr(line, '-') < strchr(line, ' ')) {
      inside = target >= start && target < end;
      continue;
    }
    if (inside && strncmp(line, "VmFlags:", 8) == 0) {
      snprintf(flags, size, "%s", line + 8);
      found = 1;
      break;
    }
  }
  fclose(smaps);
  return found;
}

static int has_flag(const char* flags, const char* flag) {
  char padded[8];
  snprintf(padded, sizeof padded, " %s", flag);
  for (const char* at = flags; (at = strstr(at, padded)) != NULL; at += strlen(padded)) {
    const char after = at[strlen(padded)];
    if (after == ' ' || after == '\n' || after == '\0') return 1;
  }
  return 0;
}

static void expect_in_pool(const void* block, size_t size) {
  char flags[512], detail[700];
  if (!vmflags_of(block, flags, sizeof flags)) {
    snprintf(detail, sizeof detail, "%p (new char[%zu]) is in no mapping", block, size);
    fail("block not found in /proc/self/smaps", detail);
    return;
  }
  if (!has_flag(flags, "lo") || !has_flag(flags, "dd")) {
    flags[strcspn(flags, "\n")] = '\0';
    snprintf(detail, sizeof detail, "%p (new char[%zu]) lies in a mapping with VmFlags%s", block, size, flags);
    fail("the library's new[] block is not locked and undumpable", detail);
  }
}

static void expect_bound_to_interposer(const char* what, void* function) {
  Dl_info info;
  const char* suffix = "/libsecbits_preload.so";
  if (dladdr(function, &info) == 0 || info.dli_fname == NULL) {
    fail(what, "dladdr knows no object for it");
    return;
  }
  const size_t length = strlen(info.dli_fname);
  if (length < strlen(suffix) || strcmp(info.dli_fname + length - strlen(suffix), suffix) != 0) {
    fail(what, info.dli_fname);
  }
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PLUGIN.so\n", argv[0]);
    return 2;
  }
  alarm(60);
  void* plugin = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (plugin == NULL) {
    fail("dlopen", dlerror());
    return 1;
  }
  void* (*new_array)(size_t) = (void* (*)(size_t))dlsym(plugin, "plugin_new_array");
  void (*delete_array)(void*) = (void (*)(void*))dlsym(plugin, "plugin_delete_array");
  void* (*bound_new)(void) = (void* (*)(void))dlsym(plugin, "plugin_bound_new_array");
  void* (*bound_delete)(void) = (void* (*)(void))dlsym(plugin, "plugin_bound_delete_array");
  if (!new_array || !delete_array || !bound_new || !bound_delete) {
    fail("dlsym of the plugin's functions", dlerror());
    return 1;
  }

  expect_bound_to_interposer("the library's operator new[] is bound to", bound_new());
  expect_bound_to_interposer("the library's operator delete[] is bound to", bound_delete());

  /* A small block (a slab of the pool) and a large one (a page run of its own). */
  const size_t sizes[] = {100, 200000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; ++i) {
    unsigned char* block = new_array(sizes[i]);
    if (block == NULL) {
      fail("plugin_new_array returned NULL", NULL);
      continue;
    }
    if (block[0] != 0x5a || block[sizes[i] - 1] != 0x5a) fail("the block does not hold what new[] wrote", NULL);
    expect_in_pool(block, sizes[i]);
    delete_array(block);
  }
  dlclose(plugin);
  if (failures == 0) printf("the dlopen()ed C++ library's new[] blocks are in the secure pool\n");
  return failures == 0 ? 0 : 1;
}
