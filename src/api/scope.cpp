// Without the interposer nothing routes plain malloc, so a secure scope has
// nothing to switch: these are the library's definitions, and the
// interposer's own (preload/scope_bridge.cpp) take their place when it is
// loaded, since a preloaded library is found first.
#include <secbits/secbits.h>

extern "C" {

void secbits_scope_enter(void) {}
void secbits_scope_leave(void) {}

}  // extern "C"
