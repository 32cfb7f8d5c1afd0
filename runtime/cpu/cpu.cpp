#include "runtime/cpu/cpu.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace pare {

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::kScalar:
            return "scalar";
        case Isa::kAvx2:
            return "avx2";
        case Isa::kNeon:
            return "neon";
    }
    return "scalar";
}

Isa detect_isa() {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return Isa::kScalar;
    const bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12);
    if (!osxsave || !avx || !fma) return Isa::kScalar;
    uint32_t xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 0x6) != 0x6) return Isa::kScalar;  // XMM and YMM state enabled by the OS
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return Isa::kScalar;
    return (b & (1u << 5)) ? Isa::kAvx2 : Isa::kScalar;
#else
    return Isa::kScalar;
#endif
}

namespace {

KernelTable make_table(Isa isa) {
    KernelTable t;
    t.isa = Isa::kScalar;
    t.f32_gemm = f32_gemm_scalar;
    t.f32_gemm_name = "f32_gemm_scalar";
#if defined(__x86_64__)
    if (isa == Isa::kAvx2) {
        t.isa = Isa::kAvx2;
        t.f32_gemm = f32_gemm_6x16_avx2;
        t.f32_gemm_name = "f32_gemm_6x16_avx2";
    }
#endif
    return t;
}

Isa capped_isa() {
    Isa isa = detect_isa();
    if (const char* cap = std::getenv("PARE_ISA")) {
        if (std::strcmp(cap, "scalar") == 0) isa = Isa::kScalar;
        // "avx2" or "neon" cap at that level: they never raise what the CPU supports.
        if (std::strcmp(cap, "neon") == 0 && isa != Isa::kNeon) isa = Isa::kScalar;
        if (std::strcmp(cap, "avx2") == 0 && isa != Isa::kAvx2) isa = Isa::kScalar;
    }
    return isa;
}

}  // namespace

const KernelTable& kernels() {
    static const KernelTable table = make_table(capped_isa());
    return table;
}

const KernelTable* kernels_for(Isa isa) {
    static const KernelTable scalar = make_table(Isa::kScalar);
    static const KernelTable avx2 = make_table(Isa::kAvx2);
    if (isa == Isa::kScalar) return &scalar;
    if (isa == Isa::kAvx2 && detect_isa() == Isa::kAvx2) return &avx2;
    return nullptr;
}

}  // namespace pare
