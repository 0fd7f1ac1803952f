#include "support/lock_budget.hpp"

#include <linux/capability.h>
#include <string>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace secbits::test {

bool drop_lock_privilege(std::size_t bytes) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  const unsigned word = CAP_IPC_LOCK / 32;
  const unsigned bit = 1u << (CAP_IPC_LOCK % 32);
  data[word].effective &= ~bit;
  data[word].permitted &= ~bit;
  data[word].inheritable &= ~bit;
  if (::syscall(SYS_capset, &header, data) != 0) return false;
  const rlimit limit{bytes, bytes};
  return ::setrlimit(RLIMIT_MEMLOCK, &limit) == 0;
}

std::string describe_lock_budget() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  std::string text = "CAP_IPC_LOCK: ";
  if (::syscall(SYS_capget, &header, data) != 0) text += "unknown";
  else text += (data[CAP_IPC_LOCK / 32].effective & (1u << (CAP_IPC_LOCK % 32))) != 0 ? "yes" : "no";
  rlimit limit{};
  text += ", RLIMIT_MEMLOCK: ";
  if (::getrlimit(RLIMIT_MEMLOCK, &limit) != 0) text += "unknown";
  else if (limit.rlim_cur == RLIM_INFINITY) text += "unlimited";
  else text += std::to_string(limit.rlim_cur) + " bytes";
  return text;
}

}  // namespace secbits::test
