// ThreadPool: a fixed set of worker threads for splitting one kernel's work.
//
// A pool of size T runs parallel_for on T threads: the caller and T-1 workers.
// Work is handed out in whole task indices from one atomic counter, so any
// thread count gives each task to exactly one thread; kernels split their work
// so that every output element is computed by one task with the same
// arithmetic, which makes results identical for any T. Workers spin for up to
// 2 ms between calls (kernels of one model follow each other within
// microseconds), then sleep. The caller never waits for a worker that has not
// taken a task: it runs whatever is left itself (on a virtual machine a sleeping
// vCPU can take milliseconds to wake; a worker that wakes late finds the call
// over). Spinning threads yield the vCPU now and then (the scheduler may put a
// worker beside the caller: pare check's cold 2-thread runs of mobilenet_v2
// took 9.5 ms without the yields, 6 ms with them). One parallel_for at a time
// per pool; calls from inside a task run serially on the calling thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pare {

class ThreadPool {
  public:
    // threads < 1 means 1. A pool of 1 starts no thread.
    explicit ThreadPool(int threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return size_; }
    // Calls fn(i) once for every i in [0, n), spread over the pool's threads, and
    // returns when all calls have returned.
    void parallel_for(int64_t n, const std::function<void(int64_t)>& fn);

  private:
    void worker_loop();
    // Takes the current call's next task index into *i; false when none is left
    // (or no call is open).
    bool claim(int64_t* i);

    int size_ = 1;
    std::vector<std::thread> workers_;
    std::mutex mu_;
    std::condition_variable wake_;
    std::atomic<uint64_t> generation_{0};  // calls started (wakes the workers)
    // The current call's number (high bits, for no ABA across calls) and next task
    // index (low bits); all index bits set while no call is open.
    std::atomic<uint64_t> ticket_;
    std::atomic<int64_t> count_{0};  // the current call's tasks
    std::atomic<const std::function<void(int64_t)>*> fn_{nullptr};
    std::atomic<int> active_{0};    // workers that may be running a task
    std::atomic<int> sleeping_{0};  // workers waiting on wake_
    // A wake-up was sent that the sleepers have not acted on yet (a vCPU can take
    // milliseconds to wake; every notify in between would be one more system call).
    std::atomic<bool> wake_sent_{false};
    bool stop_ = false;
    std::atomic<bool> in_call_{false};
};

// Calls fn(begin, end) for one contiguous range of [0, n) per thread of pool
// (boundaries on multiples of align; at most one range per align indices; all of
// [0, n) on the calling thread when pool is null): for work that should stay on the
// same thread from call to call (a thread's band of a plane, layer after layer) or
// whose hand-out one index at a time would cost more than it does.
void parallel_ranges(ThreadPool* pool, int64_t n, int64_t align,
                     const std::function<void(int64_t, int64_t)>& fn);

// Calls fn(i) for every i in [0, n): parallel_ranges with align 1, each range's
// indices in order.
void parallel_runs(ThreadPool* pool, int64_t n, const std::function<void(int64_t)>& fn);

// Splits [0, total) into `parts` contiguous ranges whose boundaries are multiples
// of `align` (except the end); returns range `i` as [begin, end).
void split_range(int64_t total, int64_t parts, int64_t align, int64_t i, int64_t* begin,
                 int64_t* end);

}  // namespace pare
