#pragma once

#include <cstddef>
#include <new>
#include <string>
#include <vector>

#include <secbits/pool.hpp>

namespace secbits {

/// A standard allocator over the secure pool: stateless, every instance
/// equal, so containers may swap and move storage freely.
template <class T>
struct secure_allocator {
  using value_type = T;

  secure_allocator() noexcept = default;
  template <class U>
  secure_allocator(const secure_allocator<U>&) noexcept {}

  T* allocate(std::size_t count) {
    if (count > SIZE_MAX / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(::secbits::allocate(count * sizeof(T), alignof(T)));
  }
  void deallocate(T* pointer, std::size_t) noexcept { ::secbits::deallocate(pointer); }

  template <class U>
  bool operator==(const secure_allocator<U>&) const noexcept {
    return true;
  }
};

template <class T>
using secure_vector = std::vector<T, secure_allocator<T>>;

/// Beware the small-string optimisation: a std::basic_string keeps up to 15
/// characters inside the string object itself, wherever that object lives.
/// Only the characters of longer strings are in the pool. Put the string
/// object itself in the pool (secure_new, a secure_vector) to cover both.
using secure_string = std::basic_string<char, std::char_traits<char>, secure_allocator<char>>;

}  // namespace secbits
