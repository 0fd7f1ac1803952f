// Shared by the multi-threaded workloads: a bounded queue that hands batches
// from producer threads to consumer threads, and a runner that sums what
// each of n threads computes. Apart from common.hpp so that single-threaded
// workloads include no thread headers.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace wp {

/// Batches (owned by whoever pops them) through a queue of at most `depth`;
/// pop() returns nullptr once every producer has called finish() and the
/// queue is empty. A mutex and condition variables, as an ordinary program's
/// work queue would have: the allocator is what differs between runs.
template <class Batch>
class BatchQueue {
 public:
  BatchQueue(std::size_t depth, int producers) : depth_(depth), producing_(producers) {}

  void push(Batch* batch) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return batches_.size() < depth_; });
    batches_.push_back(batch);
    not_empty_.notify_one();
  }
  void finish() {
    std::lock_guard lock(mutex_);
    if (--producing_ == 0) not_empty_.notify_all();
  }
  Batch* pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !batches_.empty() || producing_ == 0; });
    if (batches_.empty()) return nullptr;
    Batch* batch = batches_.front();
    batches_.pop_front();
    not_full_.notify_one();
    return batch;
  }

 private:
  std::mutex mutex_;
  std::condition_variable not_full_, not_empty_;
  std::deque<Batch*> batches_;
  const std::size_t depth_;
  int producing_;
};

/// Runs work(0) .. work(threads - 1), each on its own thread (work(0) on the
/// calling one), and returns the sum of their results: a sum, so that the
/// order in which the threads finish does not change it.
template <class Work>
std::uint64_t sum_over_threads(int threads, Work work) {
  std::vector<std::uint64_t> results(static_cast<std::size_t>(threads));
  std::vector<std::thread> others;
  for (int t = 1; t < threads; ++t) others.emplace_back([&, t] { results[t] = work(t); });
  results[0] = work(0);
  for (auto& thread : others) thread.join();
  std::uint64_t sum = 0;
  for (std::uint64_t r : results) sum += r;
  return sum;
}

}  // namespace wp
