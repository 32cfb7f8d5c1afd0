// CPU features and the kernel dispatch table, filled once.
//
// The ISA is detected with CPUID plus the XCR0 check (the OS must save YMM state
// for AVX2 to be usable) on x86-64, and hwcaps on aarch64. The environment
// variable PARE_ISA=scalar|avx2|neon caps the choice, so tests can run every path
// one machine supports. Optimized kernels live in runtime/kernels/<arch>/<isa>/
// and are reached only through this table; the reference kernels in runtime/ops/
// are always compiled and are the oracle for every entry here.
#pragma once

#include <cstdint>

namespace pare {

enum class Isa { kScalar = 0, kAvx2 = 1, kNeon = 2 };

const char* isa_name(Isa isa);
// What the CPU and OS support (ignores PARE_ISA).
Isa detect_isa();

// C[M,N] = A[M,K] * B[K,N] (+ bias[m] per row when bias != nullptr), row-major
// with leading dimensions; C is overwritten. Packs A and B internally.
using F32GemmFn = void (*)(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                           const float* B, int64_t ldb, float* C, int64_t ldc, const float* bias);

struct KernelTable {
    Isa isa = Isa::kScalar;
    F32GemmFn f32_gemm = nullptr;
    const char* f32_gemm_name = "";
};

// The table for the detected ISA capped by PARE_ISA (read once, at first use).
const KernelTable& kernels();
// The table for a given ISA, or nullptr if this build or CPU lacks it (tests).
const KernelTable* kernels_for(Isa isa);

// Kernel entry points (one file each under runtime/kernels/).
void f32_gemm_scalar(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                     int64_t ldb, float* C, int64_t ldc, const float* bias);
#if defined(__x86_64__)
void f32_gemm_6x16_avx2(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                        const float* B, int64_t ldb, float* C, int64_t ldc, const float* bias);
#endif

}  // namespace pare
