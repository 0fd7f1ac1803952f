/* A program with nothing of secbits in it that dresses itself up as a secbits
 * process, for audit_test.sh: secbits-audit must not take its word for it.
 * It maps what its arguments ask for, prints "ready" and sleeps.
 *
 * Arguments, each one thing to map:
 *   reserve[:HOW]  16 pages PROT_NONE + MAP_NORESERVE + MADV_DONTDUMP, the way
 *                  the pool reserves its range, and a memfd marker
 *                  "secbits-pool:0xBEGIN-0xEND" naming them; HOW commits
 *                  pages in it as the pool does:
 *                    anonymous (one page read-write, locked, written),
 *                    secret (one page replaced by memfd_secret's, written),
 *                    mixed (both, on different pages)
 *                  or spoils it:
 *                    dumpable (no MADV_DONTDUMP), hole (one page unmapped),
 *                    memfd (one page replaced by a memfd's), part (the
 *                    marker names only the second half of the reservation),
 *                    secret-dumpable (secret, then MADV_DODUMP),
 *                    secret-memfd (a shared memfd named "secretmem", locked
 *                    and undumpable),
 *                    shared-file=PATH (one page of file PATH, created and
 *                    unlinked, shared, locked and undumpable),
 *                    fake-secretmem (the same with a file /secretmem: in a
 *                    mount namespace of its own whose root is a tmpfs, so
 *                    that /proc/PID/maps names it "/secretmem (deleted)"
 *                    like the real thing; exit status 77 when the process
 *                    may not make one: it needs CAP_SYS_ADMIN)
 *   exec:PATH      the first page of file PATH, readable and executable
 *   data:PATH      the first page of file PATH, readable only
 *   NAME           a one-page memfd named NAME (e.g. a marker, well-formed or not)
 * Exit status 2 with a message when something cannot be mapped. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447 /* x86-64 and arm64 */
#endif

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

/* Writes the page, as a block handed out would be. */
static void touch(char* page) { memset(page, 's', page_size); }

/* One page of secret memory over `at`, as the pool's secret source commits. */
static void commit_secret(char* at) {
  const int fd = (int)syscall(SYS_memfd_secret, O_CLOEXEC);
  if (fd < 0) give_up("memfd_secret", "");
  if (ftruncate(fd, (off_t)page_size) != 0) give_up("ftruncate", "secret memory");
  if (mmap(at, page_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
    give_up("mmap", "secret memory");
  }
  close(fd);
  touch(at);
}

/* One page of the reservation opened, locked and written, as the pool's
 * anonymous source commits. */
static void commit_anonymous(char* at) {
  if (mprotect(at, page_size, PROT_READ | PROT_WRITE) != 0) give_up("mprotect", "anonymous page");
  if (mlock(at, page_size) != 0) give_up("mlock", "anonymous page");
  touch(at);
}

/* The shared mapping of `fd` over `at`, made to look like the pool's: locked
 * and undumpable; only what it is mapped from differs. */
static void map_shared_lookalike(int fd, char* at, const char* what) {
  if (ftruncate(fd, (off_t)page_size) != 0) give_up("ftruncate", what);
  if (mmap(at, page_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) give_up("mmap", what);
  close(fd);
  if (madvise(at, page_size, MADV_DONTDUMP) != 0) give_up("madvise", what);
  if (mlock(at, page_size) != 0) give_up("mlock", what);
  touch(at);
}

/* A file /secretmem of a tmpfs that is the root of a mount namespace of
 * this process's own: another process's /proc/PID/maps can only name it
 * from that root. */
static void map_fake_secretmem(char* at) {
  /* Mounted over in the namespace only: the machine's /tmp is untouched. */
  const char* const directory = "/tmp";
  if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
    perror("fake_pool_marker: a mount namespace of its own");
    exit(77);
  }
  if (mount("fake", directory, "tmpfs", 0, "size=64k") != 0) give_up("mount tmpfs on", directory);
  if (chdir(directory) != 0) give_up("chdir", directory);
  if (mkdir("old", 0700) != 0) give_up("mkdir", "old");
  if (syscall(SYS_pivot_root, ".", "old") != 0) give_up("pivot_root", directory);
  if (chdir("/") != 0) give_up("chdir", "/");
  if (umount2("/old", MNT_DETACH) != 0) give_up("umount", "/old");
  const int fd = open("/secretmem", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) give_up("open", "/secretmem");
  if (unlink("/secretmem") != 0) give_up("unlink", "/secretmem");
  map_shared_lookalike(fd, at, "/secretmem");
}

static void reserve(const char* how) {
  const char* const known[] = {"",      "dumpable", "hole",   "memfd",           "part",        "anonymous",
                               "secret", "mixed",   "secret-dumpable", "secret-memfd", "fake-secretmem"};
  const char* const shared_file = strncmp(how, "shared-file=", 12) == 0 ? how + 12 : NULL;
  int is_known = shared_file != NULL && *shared_file != '\0';
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
  char* const quarter = base + kReservedPages / 4 * page_size;
  if (strcmp(how, "anonymous") == 0 || strcmp(how, "mixed") == 0) commit_anonymous(middle);
  if (strcmp(how, "secret") == 0 || strcmp(how, "mixed") == 0 || strcmp(how, "secret-dumpable") == 0) {
    commit_secret(quarter);
  }
  if (strcmp(how, "secret-dumpable") == 0 && madvise(quarter, page_size, MADV_DODUMP) != 0) {
    give_up("madvise", "MADV_DODUMP");
  }
  if (strcmp(how, "secret-memfd") == 0) map_shared_lookalike(memfd_named("secretmem"), quarter, "memfd secretmem");
  if (shared_file != NULL) {
    const int fd = open(shared_file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) give_up("open", shared_file);
    if (unlink(shared_file) != 0) give_up("unlink", shared_file);
    map_shared_lookalike(fd, quarter, shared_file);
  }
  if (strcmp(how, "fake-secretmem") == 0) map_fake_secretmem(quarter);
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
