// A C++ library that a C program loads with dlopen() after start-up: its
// new[] and delete[] are bound when it is loaded, to whatever definition
// comes first in the process. Under the interposer that must be the
// interposer's, or the library's memory bypasses the pool.
#include <cstddef>
#include <cstring>
#include <new>

extern "C" {

/// A block from new[], filled, handed to the C caller, which gives it back
/// to plugin_delete_array().
void* plugin_new_array(std::size_t size) {
  char* block = new char[size];
  std::memset(block, 0x5a, size);
  return block;
}

void plugin_delete_array(void* block) { delete[] static_cast<char*>(block); }

/// The functions this library's new[] and delete[] are bound to: the
/// addresses come from its own GOT, so they are the definitions the dynamic
/// linker chose for it.
void* plugin_bound_new_array(void) {
  return reinterpret_cast<void*>(static_cast<void* (*)(std::size_t)>(&::operator new[]));
}
void* plugin_bound_delete_array(void) {
  return reinterpret_cast<void*>(static_cast<void (*)(void*) noexcept>(&::operator delete[]));
}

}  // extern "C"
