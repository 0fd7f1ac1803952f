#pragma once

// libsecbits.so is built with hidden visibility; only what is marked here is
// part of its ABI.
#define SECBITS_API __attribute__((visibility("default")))
