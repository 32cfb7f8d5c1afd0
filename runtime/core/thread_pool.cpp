#include "runtime/core/thread_pool.h"

#include <algorithm>
#include <chrono>

namespace pare {

ThreadPool::ThreadPool(int threads) : size_(std::max(1, threads)) {
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

void ThreadPool::drain() {
    for (;;) {
        const int64_t i = next_.fetch_add(1, std::memory_order_relaxed);
        if (i >= count_) return;
        (*fn_)(i);
    }
}

namespace {

// A hint to the core that this is a spin-wait loop.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

}  // namespace

void ThreadPool::worker_loop() {
    uint64_t seen = 0;
    for (;;) {
        // Spin for the next call (a model's kernels follow each other within a
        // millisecond; waking a sleeping thread costs tens of microseconds on a
        // virtual machine), then sleep until one comes.
        const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(2000);
        for (int i = 0; generation_.load(std::memory_order_acquire) == seen; ++i) {
            cpu_relax();
            if ((i & 255) == 255 && std::chrono::steady_clock::now() >= spin_until) break;
        }
        {
            std::unique_lock<std::mutex> lock(mu_);
            wake_.wait(lock, [&] { return generation_.load() != seen; });
            if (stop_) return;
            seen = generation_.load();
        }
        drain();
        busy_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t)>& fn) {
    if (n <= 0) return;
    bool expected = false;
    if (size_ == 1 || n == 1 || !in_call_.compare_exchange_strong(expected, true)) {
        for (int64_t i = 0; i < n; ++i) fn(i);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        fn_ = &fn;
        count_ = n;
        next_.store(0);
        busy_.store(static_cast<int>(workers_.size()));
        generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    drain();
    while (busy_.load(std::memory_order_acquire) != 0) cpu_relax();
    fn_ = nullptr;
    in_call_.store(false);
}

void parallel_runs(ThreadPool* pool, int64_t n, const std::function<void(int64_t)>& fn) {
    const int64_t T = pool ? std::min<int64_t>(pool->size(), n) : 1;
    if (T <= 1) {
        for (int64_t i = 0; i < n; ++i) fn(i);
        return;
    }
    pool->parallel_for(T, [&](int64_t t) {
        int64_t b, e;
        split_range(n, T, 1, t, &b, &e);
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
