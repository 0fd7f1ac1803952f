/* A program with nothing of secbits in it that dresses itself up as a secbits
 * process, for audit_test.sh: secbits-audit must not take its word for it.
 * It maps what its arguments ask for, prints "ready" and sleeps.
 *
 * Arguments, each one thing to map:
 *   reserve[:HOW]  16 pages PROT_NONE + MAP_NORESERVE + MADV_DONTDUMP, the way
 *                  the pool reserves its range, and a memfd marker
 *                  "secbits-pool:0xBEGIN-0xEND" naming them; HOW spoils it:
 *                  dumpable (no MADV_DONTDUMP), hole (one page unmapped),
 *                  memfd (one page replaced by a memfd's), part (the marker
 *                  names only the second half of the reservation)
 *   exec:PATH      the first page of file PATH, readable and executable
 *   data:PATH      the first page of file PATH, readable only
 *   NAME           a one-page memfd named NAME (e.g. a marker, well-formed or not)
 * Exit status 2 with a message when something cannot be mapped. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { kReservedPages = 16 };

static size_t page_size;

static void give_up(const char* what, const char* detail) {
  fprintf(stderr, "fake_pool_marker: %s %s: ", what, detail);
  perror(NULL);
  exit(2);
}

static int memfd_named(const char* name) {
  const int fd = memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) give_up("memfd_create", name);
  if (ftruncate(fd, (off_t)page_size) != 0) give_up("ftruncate", name);
  return fd;
}

/* The mapping outlives the descriptor, as the pool's marker does. */
static void map_memfd(const char* name) {
  const int fd = memfd_named(name);
  if (mmap(NULL, page_size, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED) give_up("mmap memfd", name);
  close(fd);
}

static void map_file(const char* path, int protection) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) give_up("open", path);
  if (mmap(NULL, page_size, protection, MAP_PRIVATE, fd, 0) == MAP_FAILED) give_up("mmap file", path);
  close(fd);
}

static void reserve(const char* how) {
  const char* const known[] = {"", "dumpable", "hole", "memfd", "part"};
  int is_known = 0;
  for (size_t i = 0; i < sizeof known / sizeof known[0]; ++i) is_known |= strcmp(how, known[i]) == 0;
  if (!is_known) {
    fprintf(stderr, "fake_pool_marker: no such reservation: reserve:%s\n", how);
    exit(2);
  }
  const size_t size = kReservedPages * page_size;
  char* const base = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) give_up("mmap", "reservation");
  if (strcmp(how, "dumpable") != 0 && madvise(base, size, MADV_DONTDUMP) != 0) give_up("madvise", "MADV_DONTDUMP");
  char* const middle = base + kReservedPages / 2 * page_size;
  if (strcmp(how, "hole") == 0 && munmap(middle, page_size) != 0) give_up("munmap", "middle page");
  if (strcmp(how, "memfd") == 0) {
    const int fd = memfd_named("not-anonymous");
    if (mmap(middle, page_size, PROT_NONE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) give_up("mmap", "memfd page");
    close(fd);
  }
  const char* const begin = strcmp(how, "part") == 0 ? middle : base;
  char name[64];
  snprintf(name, sizeof name, "secbits-pool:0x%lx-0x%lx", (unsigned long)(uintptr_t)begin,
           (unsigned long)(uintptr_t)(base + size));
  map_memfd(name);
}

int main(int argc, char** argv) {
  page_size = (size_t)sysconf(_SC_PAGESIZE);
  for (int i = 1; i < argc; ++i) {
    const char* const argument = argv[i];
    if (strcmp(argument, "reserve") == 0) reserve("");
    else if (strncmp(argument, "reserve:", 8) == 0) reserve(argument + 8);
    else if (strncmp(argument, "exec:", 5) == 0) map_file(argument + 5, PROT_READ | PROT_EXEC);
    else if (strncmp(argument, "data:", 5) == 0) map_file(argument + 5, PROT_READ);
    else map_memfd(argument);
  }
  printf("ready\n");
  fflush(stdout);
  /* Long enough for the audits; the test ends it sooner. */
  sleep(60);
  return 0;
}
