#include <secbits/error.hpp>

namespace secbits {

namespace {

std::string compose(std::error_code code, const std::string& context, const std::string& hint) {
  std::string message = context + ": " + code.message();
  if (!hint.empty()) message += " (" + hint + ")";
  return message;
}

}  // namespace

Error::Error(std::error_code code, const std::string& context, const std::string& hint)
    : std::system_error(code, context), message_(compose(code, context, hint)) {}

const char* Error::what() const noexcept { return message_.what(); }

}  // namespace secbits
