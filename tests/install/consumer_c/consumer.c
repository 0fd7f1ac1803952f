/* A C program built only from the installed secbits.h and library. */
#include <secbits/secbits.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  char* secret = secbits_malloc(64);
  if (secret == NULL) {
    perror("consumer_c: secbits_malloc");
    return 1;
  }
  strcpy(secret, "from the installed library");
  struct secbits_stats stats;
  secbits_stats(&stats);
  const int ok = secbits_owns(secret) && secbits_usable_size(secret) >= 64 && stats.bytes_in_use >= 64 &&
                 stats.bytes_locked > 0;
  secbits_free(secret);
  errno = 0;
  const int overflow_refused = secbits_calloc((size_t)-1, 2) == NULL && errno == ENOMEM;
  puts(ok && overflow_refused ? "consumer_c: ok" : "consumer_c: WRONG");
  return ok && overflow_refused ? 0 : 1;
}
