// gemm_probe: this machine's fp32 FMA peak on one core (and on N threads), and
// pare's fp32 GEMM throughput at 256, 512 and 1024 against it.
//
// Peak: independent FMA chains (enough to cover the FMA latency on both FMA
// ports), 8 lanes (ymm, AVX2) or 16 lanes (zmm, when the AVX-512 kernels are in
// use) x 2 flops per FMA. The GEMM is the dispatched packed kernel
// (runtime/cpu), A packed once as at prepare time; median of several runs.
// Usage: gemm_probe [threads]
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "runtime/core/thread_pool.h"
#include "runtime/cpu/cpu.h"
#include "runtime/kernels/fast_ops.h"

namespace {

using Clock = std::chrono::steady_clock;

// 12 independent accumulators in registers (written out: an array may live in memory).
__attribute__((target("avx2,fma"))) double fma_loop(long iters) {
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    __m256 a0 = _mm256_set1_ps(1.0f), a1 = _mm256_set1_ps(1.1f), a2 = _mm256_set1_ps(1.2f),
           a3 = _mm256_set1_ps(1.3f), a4 = _mm256_set1_ps(1.4f), a5 = _mm256_set1_ps(1.5f),
           a6 = _mm256_set1_ps(1.6f), a7 = _mm256_set1_ps(1.7f), a8 = _mm256_set1_ps(1.8f),
           a9 = _mm256_set1_ps(1.9f), a10 = _mm256_set1_ps(2.0f), a11 = _mm256_set1_ps(2.1f);
    for (long it = 0; it < iters; ++it) {
        a0 = _mm256_fmadd_ps(a0, m, c);
        a1 = _mm256_fmadd_ps(a1, m, c);
        a2 = _mm256_fmadd_ps(a2, m, c);
        a3 = _mm256_fmadd_ps(a3, m, c);
        a4 = _mm256_fmadd_ps(a4, m, c);
        a5 = _mm256_fmadd_ps(a5, m, c);
        a6 = _mm256_fmadd_ps(a6, m, c);
        a7 = _mm256_fmadd_ps(a7, m, c);
        a8 = _mm256_fmadd_ps(a8, m, c);
        a9 = _mm256_fmadd_ps(a9, m, c);
        a10 = _mm256_fmadd_ps(a10, m, c);
        a11 = _mm256_fmadd_ps(a11, m, c);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0];
}

// The same with zmm registers (16 lanes), for the AVX-512 kernels.
__attribute__((target("avx512f"))) double fma_loop_512(long iters) {
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    __m512 a0 = _mm512_set1_ps(1.0f), a1 = _mm512_set1_ps(1.1f), a2 = _mm512_set1_ps(1.2f),
           a3 = _mm512_set1_ps(1.3f), a4 = _mm512_set1_ps(1.4f), a5 = _mm512_set1_ps(1.5f),
           a6 = _mm512_set1_ps(1.6f), a7 = _mm512_set1_ps(1.7f), a8 = _mm512_set1_ps(1.8f),
           a9 = _mm512_set1_ps(1.9f), a10 = _mm512_set1_ps(2.0f), a11 = _mm512_set1_ps(2.1f);
    for (long it = 0; it < iters; ++it) {
        a0 = _mm512_fmadd_ps(a0, m, c);
        a1 = _mm512_fmadd_ps(a1, m, c);
        a2 = _mm512_fmadd_ps(a2, m, c);
        a3 = _mm512_fmadd_ps(a3, m, c);
        a4 = _mm512_fmadd_ps(a4, m, c);
        a5 = _mm512_fmadd_ps(a5, m, c);
        a6 = _mm512_fmadd_ps(a6, m, c);
        a7 = _mm512_fmadd_ps(a7, m, c);
        a8 = _mm512_fmadd_ps(a8, m, c);
        a9 = _mm512_fmadd_ps(a9, m, c);
        a10 = _mm512_fmadd_ps(a10, m, c);
        a11 = _mm512_fmadd_ps(a11, m, c);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    float out[16];
    _mm512_storeu_ps(out, s);
    return out[0];
}

// Peak of the widest vectors the dispatched kernels use (zmm for avx512, else ymm).
double peak_gflops(int threads) {
    const bool zmm = pare::kernels().isa == pare::Isa::kAvx512;
    const long iters = 50'000'000;
    std::vector<double> best;
    for (int rep = 0; rep < 3; ++rep) {
        const auto t0 = Clock::now();
        std::vector<std::thread> ts;
        volatile double sink = 0;
        for (int t = 0; t < threads; ++t)
            ts.emplace_back([&] { sink = sink + (zmm ? fma_loop_512(iters) : fma_loop(iters)); });
        for (auto& t : ts) t.join();
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        best.push_back(threads * iters * 12.0 * (zmm ? 32.0 : 16.0) / s / 1e9);
    }
    return *std::max_element(best.begin(), best.end());
}

double gemm_gflops(int64_t n, pare::ThreadPool* pool) {
    const pare::KernelTable& kt = pare::kernels();
    std::vector<float> a(n * n), b(n * n), c(n * n);
    for (size_t i = 0; i < a.size(); ++i) {
        a[i] = static_cast<float>(i % 7) * 0.1f;
        b[i] = static_cast<float>(i % 5) * 0.2f;
    }
    std::vector<float> packed(pare::f32_packed_a_size(n, n, kt.f32_gemm_mr));
    pare::f32_pack_a(n, n, a.data(), n, kt.f32_gemm_mr, packed.data());
    const pare::F32PackedA pa{packed.data(), n, n, kt.f32_gemm_mr};
    std::vector<double> t;
    const int reps = n >= 1024 ? 5 : 15;
    for (int r = 0; r < reps + 2; ++r) {
        const auto t0 = Clock::now();
        pare::f32_gemm_parallel(kt, pa, n, {b.data(), n}, c.data(), n, nullptr, nullptr, {}, pool);
        if (r >= 2) t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    return 2.0 * n * n * n / t[t.size() / 2] / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
    const int threads = argc > 1 ? std::max(1, std::atoi(argv[1])) : 1;
    const pare::Isa isa = pare::kernels().isa;
    if (isa != pare::Isa::kAvx2 && isa != pare::Isa::kAvx512) {
        std::printf("gemm_probe: needs AVX2+FMA or AVX-512 for the peak probe\n");
        return 1;
    }
    pare::ThreadPool pool(threads);
    const double peak = peak_gflops(threads);
    std::printf("fp32 FMA peak, %d thread%s: %.1f GFLOP/s (ISA %s, GEMM %s)\n", threads,
                threads == 1 ? "" : "s", peak, pare::isa_name(pare::kernels().isa),
                pare::kernels().f32_gemm_name);
    for (int64_t n : {256, 512, 1024}) {
        const double g = gemm_gflops(n, &pool);
        std::printf("  sgemm %4lld^3: %6.1f GFLOP/s = %3.0f%% of peak\n", static_cast<long long>(n),
                    g, 100.0 * g / peak);
    }
    return 0;
}
