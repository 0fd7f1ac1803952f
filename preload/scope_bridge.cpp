// secure_scope under the interposer: these definitions are found before
// libsecbits.so's empty ones, and move the calling thread's depth, which
// the router reads on every allocation.
#include <secbits/secbits.h>

#include "preload/router.hpp"

extern "C" {

void secbits_scope_enter(void) { ++secbits::preload::tl_scope_depth; }
void secbits_scope_leave(void) { --secbits::preload::tl_scope_depth; }

}  // extern "C"
