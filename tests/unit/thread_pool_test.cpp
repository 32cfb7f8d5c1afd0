#include "runtime/core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

using namespace pare;

TEST(ThreadPool, EveryTaskRunsExactlyOnceOnAtMostSizeThreads) {
    for (int threads : {1, 2, 4}) {
        ThreadPool pool(threads);
        EXPECT_EQ(pool.size(), threads);
        for (int64_t n : {0, 1, 3, 1000}) {
            std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
            std::mutex mu;
            std::set<std::thread::id> ids;
            pool.parallel_for(n, [&](int64_t i) {
                hits[static_cast<size_t>(i)].fetch_add(1);
                std::lock_guard<std::mutex> l(mu);
                ids.insert(std::this_thread::get_id());
            });
            for (auto& h : hits) ASSERT_EQ(h.load(), 1);
            EXPECT_LE(static_cast<int>(ids.size()), threads);
        }
    }
}

TEST(ThreadPool, AllThreadsTakePartInLongTasks) {
    ThreadPool pool(2);
    std::mutex mu;
    std::set<std::thread::id> ids;
    std::atomic<int> arrived{0};
    // Each task waits until two tasks are running at once: only possible on two threads.
    pool.parallel_for(2, [&](int64_t) {
        arrived.fetch_add(1);
        while (arrived.load() < 2) std::this_thread::yield();
        std::lock_guard<std::mutex> l(mu);
        ids.insert(std::this_thread::get_id());
    });
    EXPECT_EQ(ids.size(), 2u);
}

TEST(ThreadPool, NestedCallsRunSeriallyAndManyCallsInARowWork) {
    ThreadPool pool(2);
    std::atomic<int64_t> sum{0};
    for (int round = 0; round < 2000; ++round) {
        pool.parallel_for(4, [&](int64_t i) {
            pool.parallel_for(3, [&](int64_t j) { sum.fetch_add(i * 3 + j); });
        });
    }
    EXPECT_EQ(sum.load(), 2000 * 66);  // sum of 0..11 per round
}

// Calls made while the workers sleep (after a pause past their 2 ms spin) and calls
// back to back: every task runs exactly once and has finished when parallel_for
// returns, whichever threads took part (the caller runs what sleeping workers do not
// take; a worker that wakes late must find nothing, or finish what it took first).
TEST(ThreadPool, CallsWhileWorkersSleepFinishEveryTaskBeforeReturning) {
    ThreadPool pool(3);
    int64_t taken_by_workers = 0;
    for (int round = 0; round < 60; ++round) {
        if (round % 6 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        const int64_t n = 1 + (round * 37) % 150;
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        const std::thread::id caller = std::this_thread::get_id();
        std::atomic<int64_t> by_workers{0};
        pool.parallel_for(n, [&](int64_t i) {
            // A little work, so a worker's task can still be running as the caller
            // runs out of tasks.
            const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
            while (std::chrono::steady_clock::now() < until) {
            }
            if (std::this_thread::get_id() != caller) by_workers.fetch_add(1);
            hits[static_cast<size_t>(i)].fetch_add(1);
        });
        for (auto& h : hits) ASSERT_EQ(h.load(), 1) << "round " << round;
        taken_by_workers += by_workers.load();
    }
    EXPECT_GT(taken_by_workers, 0);  // the workers did take part
}

TEST(ThreadPool, SplitRangeCoversEverythingOnAlignedBoundaries) {
    for (int64_t total : {0, 1, 15, 16, 17, 1000})
        for (int64_t parts : {1, 2, 3, 7})
            for (int64_t align : {1, 6, 16}) {
                int64_t expect = 0;
                for (int64_t i = 0; i < parts; ++i) {
                    int64_t b, e;
                    split_range(total, parts, align, i, &b, &e);
                    ASSERT_EQ(b, expect);
                    ASSERT_LE(b, e);
                    if (e < total) {
                        ASSERT_EQ(e % align, 0);
                    }
                    expect = e;
                }
                ASSERT_EQ(expect, total);
            }
}
