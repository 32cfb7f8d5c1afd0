#include "runtime/core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
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
