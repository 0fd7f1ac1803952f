#pragma once

// The C++ headers that need C++20 include this one: say plainly what is wrong
// when it is compiled below C++20 (g++ 12 defaults to C++17), rather than
// with an error deep in <span>. C programs use secbits.h, which needs none.
#if __cplusplus < 202002L
#error "secbits' C++ headers need C++20: compile with -std=c++20 (pkg-config secbits-cxx gives it)"
#endif

// libsecbits.so is built with hidden visibility; only what is marked here is
// part of its ABI.
#define SECBITS_API __attribute__((visibility("default")))
