#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include <secbits/pool.hpp>

namespace secbits {

/// Constructs a T in the secure pool. Throws std::bad_alloc, or whatever T's
/// constructor throws (the memory is then wiped and freed).
template <class T, class... Args>
T* secure_new(Args&&... args) {
  static_assert(!std::is_array_v<T>, "use make_secure_unique<T[]>(n) for arrays");
  void* memory = allocate(sizeof(T), alignof(T));
  try {
    return ::new (memory) T(std::forward<Args>(args)...);
  } catch (...) {
    deallocate(memory);
    throw;
  }
}

/// Runs T's destructor, wipes the object's memory and frees it.
template <class T>
void secure_delete(T* object) noexcept {
  if (object == nullptr) return;
  object->~T();
  deallocate(const_cast<std::remove_cv_t<T>*>(object));
}

template <class T>
struct secure_deleter {
  void operator()(T* object) const noexcept { secure_delete(object); }
};

/// For arrays the deleter remembers the element count, so that every
/// element's destructor runs before the memory is wiped.
template <class T>
struct secure_deleter<T[]> {
  std::size_t count = 0;
  void operator()(T* objects) const noexcept {
    if (objects == nullptr) return;
    std::destroy_n(objects, count);
    deallocate(objects);
  }
};

template <class T>
using secure_unique_ptr = std::unique_ptr<T, secure_deleter<T>>;

template <class T, class... Args>
  requires(!std::is_array_v<T>)
secure_unique_ptr<T> make_secure_unique(Args&&... args) {
  return secure_unique_ptr<T>(secure_new<T>(std::forward<Args>(args)...));
}

/// `count` value-initialised elements, as std::make_unique<T[]>(count).
template <class T>
  requires std::is_unbounded_array_v<T>
secure_unique_ptr<T> make_secure_unique(std::size_t count) {
  using Element = std::remove_extent_t<T>;
  if (count > SIZE_MAX / sizeof(Element)) throw std::bad_array_new_length();
  auto* objects = static_cast<Element*>(allocate(count * sizeof(Element), alignof(Element)));
  try {
    std::uninitialized_value_construct_n(objects, count);
  } catch (...) {
    deallocate(objects);
    throw;
  }
  return secure_unique_ptr<T>(objects, secure_deleter<T>{count});
}

}  // namespace secbits
