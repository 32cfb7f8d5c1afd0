#include "runtime/core/thread_pool.h"

#include <algorithm>
#include <chrono>

namespace pare {

namespace {

constexpr int kIndexBits = 40;  // task indices below 2^40; call numbers modulo 2^24
constexpr uint64_t kIndexMask = (uint64_t{1} << kIndexBits) - 1;

// A hint to the core that this is a spin-wait loop.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

}  // namespace

ThreadPool::ThreadPool(int threads) : size_(std::max(1, threads)), ticket_(kIndexMask) {
    for (int i = 1; i < size_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
        generation_.fetch_add(1);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
}

bool ThreadPool::claim(int64_t* i) {
    uint64_t t = ticket_.load();
    for (;;) {
        const int64_t idx = static_cast<int64_t>(t & kIndexMask);
        if (idx >= count_.load()) return false;
        // Fails if another thread took this index, or the call closed or changed.
        if (ticket_.compare_exchange_weak(t, t + 1)) {
            *i = idx;
            return true;
        }
    }
}

void ThreadPool::worker_loop() {
    uint64_t seen = 0;
    for (;;) {
        // Spin for the next call (a model's kernels follow each other within a
        // millisecond; waking a sleeping thread costs tens of microseconds on a
        // virtual machine, sometimes milliseconds), then sleep until one comes.
        const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(2000);
        for (int i = 0; generation_.load(std::memory_order_acquire) == seen; ++i) {
            cpu_relax();
            if ((i & 1023) == 1023) {
                // Yield the vCPU now and then: the scheduler may have put this
                // thread beside the caller, whose work it would otherwise delay.
                std::this_thread::yield();
                if (std::chrono::steady_clock::now() >= spin_until) break;
            }
        }
        {
            std::unique_lock<std::mutex> lock(mu_);
            sleeping_.fetch_add(1);
            wake_.wait(lock, [&] { return generation_.load() != seen; });
            sleeping_.fetch_sub(1);
            wake_sent_.store(false);
            if (stop_) return;
            seen = generation_.load();
        }
        // Registered as active before claiming: the caller waits only for workers
        // that may have taken a task (claims and this counter are sequentially
        // consistent).
        if (static_cast<int64_t>(ticket_.load() & kIndexMask) >= count_.load()) continue;
        active_.fetch_add(1);
        int64_t i;
        while (claim(&i)) (*fn_.load())(i);
        active_.fetch_sub(1);
    }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t)>& fn) {
    if (n <= 0) return;
    bool expected = false;
    if (size_ == 1 || n == 1 || n >= static_cast<int64_t>(kIndexMask) ||
        !in_call_.compare_exchange_strong(expected, true)) {
        for (int64_t i = 0; i < n; ++i) fn(i);
        return;
    }
    // The ticket is closed (all index bits set) between calls, so nothing can be
    // claimed while the task count and function change; then it opens at index 0
    // with the next call number.
    const uint64_t call = (ticket_.load() >> kIndexBits) + 1;
    fn_.store(&fn);
    count_.store(n);
    ticket_.store(call << kIndexBits);
    generation_.fetch_add(1);
    // Spinning workers see the generation change; sleeping ones get one notify
    // (under the lock, so none is between its check and its wait), then none
    // until they are up. A worker about to sleep counts itself before checking
    // the generation, the caller counts sleepers after changing it: one of the two
    // sees the other.
    if (sleeping_.load() > 0 && !wake_sent_.exchange(true)) {
        { std::lock_guard<std::mutex> lock(mu_); }
        wake_.notify_all();
    }
    int64_t i;
    while (claim(&i)) fn(i);
    // Every index is taken; wait for the workers still running theirs (yielding
    // now and then, in case one shares this vCPU).
    for (int k = 1; active_.load() != 0; ++k) {
        cpu_relax();
        if ((k & 255) == 0) std::this_thread::yield();
    }
    ticket_.store((call << kIndexBits) | kIndexMask);
    in_call_.store(false);
}

void parallel_ranges(ThreadPool* pool, int64_t n, int64_t align,
                     const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    align = std::max<int64_t>(1, align);
    const int64_t T = pool ? std::min<int64_t>(pool->size(), (n + align - 1) / align) : 1;
    if (T <= 1) {
        fn(0, n);
        return;
    }
    pool->parallel_for(T, [&](int64_t t) {
        int64_t b, e;
        split_range(n, T, align, t, &b, &e);
        if (e > b) fn(b, e);
    });
}

void parallel_runs(ThreadPool* pool, int64_t n, const std::function<void(int64_t)>& fn) {
    parallel_ranges(pool, n, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) fn(i);
    });
}

void split_range(int64_t total, int64_t parts, int64_t align, int64_t i, int64_t* begin,
                 int64_t* end) {
    align = std::max<int64_t>(1, align);
    const int64_t units = (total + align - 1) / align;
    parts = std::max<int64_t>(1, parts);
    const int64_t base = units / parts, extra = units % parts;
    const int64_t u0 = i * base + std::min(i, extra), u1 = u0 + base + (i < extra ? 1 : 0);
    *begin = std::min(total, u0 * align);
    *end = std::min(total, u1 * align);
}

}  // namespace pare
