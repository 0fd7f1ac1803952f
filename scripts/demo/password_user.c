/* The demo's "unmodified program": plain C, plain libc, nothing of secbits.
 * Like many programs it reads a credentials file, uses the password, frees
 * it and goes on running. Usage: password_user CREDENTIALS_FILE
 * It prints "READY <pid> <address of a live heap block>" and waits for a line
 * on stdin, so that the demo can look at its memory while it runs. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t fingerprint(const char* text) {
  uint32_t hash = 2166136261u;
  for (; *text != '\0'; ++text) hash = (hash ^ (unsigned char)*text) * 16777619u;
  return hash;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CREDENTIALS_FILE\n", argv[0]);
    return 2;
  }
  FILE* file = fopen(argv[1], "r");
  if (file == NULL) {
    perror(argv[1]);
    return 1;
  }
  /* The whole file in one heap buffer, as configuration readers do. */
  fseek(file, 0, SEEK_END);
  const long size = ftell(file);
  rewind(file);
  char* contents = malloc((size_t)size + 1);
  if (contents == NULL || fread(contents, 1, (size_t)size, file) != (size_t)size) {
    fprintf(stderr, "cannot read %s\n", argv[1]);
    return 1;
  }
  contents[size] = '\0';
  fclose(file);

  char* password = NULL;
  for (char* line = strtok(contents, "\n"); line != NULL; line = strtok(NULL, "\n")) {
    if (strncmp(line, "password=", 9) == 0) password = strdup(line + 9);
  }
  if (password == NULL) {
    fprintf(stderr, "no password= line in %s\n", argv[1]);
    return 1;
  }
  printf("   the program read its password and used it (fingerprint %08x), then freed it\n", fingerprint(password));
  free(password);
  free(contents);

  /* Something the program keeps: the demo looks up the heap mapping it is in. */
  char* session = malloc(64);
  strcpy(session, "session state");
  printf("READY %d %p\n", (int)getpid(), (void*)session);
  fflush(stdout);

  char answer[16];
  if (fgets(answer, sizeof answer, stdin) == NULL) return 1;
  free(session);
  return 0;
}
