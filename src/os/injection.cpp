#include "os/injection.hpp"

namespace secbits::os {

namespace {

constexpr auto kOperations = static_cast<std::size_t>(Operation::Count);

struct Plan {
  std::atomic<std::size_t> calls{0};
  std::atomic<std::size_t> fail_at{0};  // 0: never
  std::atomic<bool> and_after{false};
  std::atomic<int> error{0};
};

constinit Plan plans[kOperations];
constinit std::atomic<std::size_t> misalignment{0};
constinit std::atomic<std::size_t> page_size_override{0};

}  // namespace

namespace detail {

constinit std::atomic<bool> g_injecting{false};

int injected_error_slow(Operation operation) noexcept {
  Plan& plan = plans[static_cast<std::size_t>(operation)];
  const std::size_t call = plan.calls.fetch_add(1, std::memory_order_relaxed) + 1;
  const std::size_t fail_at = plan.fail_at.load(std::memory_order_relaxed);
  if (fail_at == 0 || call < fail_at) return 0;
  if (call > fail_at && !plan.and_after.load(std::memory_order_relaxed)) return 0;
  return plan.error.load(std::memory_order_relaxed);
}

std::size_t injected_misalignment() noexcept {
  return g_injecting.load(std::memory_order_relaxed) ? misalignment.load(std::memory_order_relaxed) : 0;
}

std::size_t injected_page_size() noexcept {
  return g_injecting.load(std::memory_order_relaxed) ? page_size_override.load(std::memory_order_relaxed) : 0;
}

}  // namespace detail

void testing::inject_failure(Operation operation, unsigned nth, int error, bool and_after) noexcept {
  Plan& plan = plans[static_cast<std::size_t>(operation)];
  plan.error.store(error, std::memory_order_relaxed);
  plan.and_after.store(and_after, std::memory_order_relaxed);
  plan.fail_at.store(plan.calls.load(std::memory_order_relaxed) + nth, std::memory_order_relaxed);
  detail::g_injecting.store(true, std::memory_order_release);
}

void testing::misalign_reservations(std::size_t bytes) noexcept {
  misalignment.store(bytes, std::memory_order_relaxed);
  detail::g_injecting.store(true, std::memory_order_release);
}

void testing::fake_page_size(std::size_t bytes) noexcept {
  page_size_override.store(bytes, std::memory_order_relaxed);
  detail::g_injecting.store(true, std::memory_order_release);
}

std::size_t testing::calls(Operation operation) noexcept {
  return plans[static_cast<std::size_t>(operation)].calls.load(std::memory_order_relaxed);
}

void testing::start_counting() noexcept { detail::g_injecting.store(true, std::memory_order_release); }

void testing::reset() noexcept {
  detail::g_injecting.store(false, std::memory_order_release);
  for (Plan& plan : plans) {
    plan.calls.store(0, std::memory_order_relaxed);
    plan.fail_at.store(0, std::memory_order_relaxed);
    plan.and_after.store(false, std::memory_order_relaxed);
  }
  misalignment.store(0, std::memory_order_relaxed);
  page_size_override.store(0, std::memory_order_relaxed);
}

}  // namespace secbits::os
