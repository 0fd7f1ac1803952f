// A program built only from the installed headers and library.
#include <secbits/secbits.hpp>

#include <cstdio>
#include <string>

int main() {
  std::string password = "from the installed library";
  secbits::SecBytes secret;
  secret.append(password);
  secbits::SecMem region(100);
  region.protect(secbits::Protection::ReadWrite);
  region.data()[0] = std::byte{1};
  auto view = secret.read();
  const bool ok = password.empty() && view.size() == 26 && view.data()[0] == std::byte{'f'} &&
                  region.capacity() >= 100 && region.is_locked();
  std::puts(ok ? "consumer: ok" : "consumer: WRONG");
  return ok ? 0 : 1;
}
