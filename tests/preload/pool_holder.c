/* A C program linked with libsecbits.so that keeps one block from the secure
 * pool through the C API, for audit_test.sh: the genuine article beside
 * fake_pool_marker. (The demo's SecBytes program will not do: SecBytes maps
 * its own pages, outside the pool.) Prints "ready" and sleeps. */
#include <secbits/secbits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  char* const secret = secbits_malloc(64);
  if (secret == NULL) {
    perror("pool_holder: secbits_malloc");
    return 2;
  }
  strcpy(secret, "a secret held in the pool");
  printf("ready\n");
  fflush(stdout);
  /* Long enough for the audits; the test ends it sooner. */
  sleep(60);
  secbits_free(secret);
  return 0;
}
