#pragma once

#include <cstdio>
#include <cstdlib>

// A broken expectation stops the run with abort(): libFuzzer treats it as a
// crash, saves the input and prints the stack, like any sanitizer report.
// printf-style details, because a fuzz finding is read from its log alone.
#define SECBITS_FUZZ_CHECK(condition, ...)                                                             \
  do {                                                                                                 \
    if (!(condition)) [[unlikely]] {                                                                   \
      std::fprintf(stderr, "secbits fuzz: %s:%d: check failed: %s: ", __FILE__, __LINE__, #condition); \
      std::fprintf(stderr, __VA_ARGS__);                                                               \
      std::fputc('\n', stderr);                                                                        \
      std::abort();                                                                                    \
    }                                                                                                  \
  } while (false)
