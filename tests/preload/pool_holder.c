/* A C program linked with libsecbits.so that keeps blocks from the secure
 * pool through the C API, for audit_test.sh: the genuine article beside
 * fake_pool_marker. (The demo's SecBytes program will not do: SecBytes maps
 * its own pages, outside the pool.) Prints "ready" and sleeps.
 *
 * Usage: pool_holder [SOURCE [POLICY [BLOCKS]]]
 *   SOURCE  anonymous, secret or auto: secbits_set_page_source before the
 *           first allocation; without it, the library's default
 *   POLICY  strict or degrade: secbits_set_lock_policy
 *   BLOCKS  how many 128 KiB blocks (large: a mapping each) to hold besides
 *           the small one (0); under a small RLIMIT_MEMLOCK and degrade, the
 *           later ones come unlocked
 * Exit status 2 with a message when the pool refuses. */
#include <secbits/secbits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int usage(const char* what) {
  fprintf(stderr, "pool_holder: %s\nusage: pool_holder [anonymous|secret|auto [strict|degrade [BLOCKS]]]\n", what);
  return 2;
}

int main(int argc, char** argv) {
  if (argc > 1) {
    enum secbits_page_source source;
    if (strcmp(argv[1], "anonymous") == 0) source = SECBITS_SOURCE_ANONYMOUS;
    else if (strcmp(argv[1], "secret") == 0) source = SECBITS_SOURCE_SECRET;
    else if (strcmp(argv[1], "auto") == 0) source = SECBITS_SOURCE_AUTO;
    else return usage("no such page source");
    if (secbits_set_page_source(source) != 0) {
      perror("pool_holder: secbits_set_page_source");
      return 2;
    }
  }
  if (argc > 2) {
    if (strcmp(argv[2], "strict") == 0) secbits_set_lock_policy(SECBITS_LOCK_STRICT);
    else if (strcmp(argv[2], "degrade") == 0) secbits_set_lock_policy(SECBITS_LOCK_DEGRADE);
    else return usage("no such lock policy");
  }
  const long blocks = argc > 3 ? strtol(argv[3], NULL, 10) : 0;
  if (blocks < 0 || blocks > 4096) return usage("BLOCKS is 0 to 4096");
  char* const secret = secbits_malloc(64);
  if (secret == NULL) {
    perror("pool_holder: secbits_malloc");
    return 2;
  }
  strcpy(secret, "a secret held in the pool");
  /* Large blocks, each pages of its own, written so that they are resident. */
  for (long i = 0; i < blocks; ++i) {
    char* const block = secbits_malloc(128 * 1024);
    if (block == NULL) {
      perror("pool_holder: secbits_malloc of a 128 KiB block");
      return 2;
    }
    memset(block, 'x', 128 * 1024);
  }
  printf("ready\n");
  fflush(stdout);
  /* Long enough for the audits; the test ends it sooner. */
  sleep(60);
  secbits_free(secret);
  return 0;
}
