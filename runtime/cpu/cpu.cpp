#include "runtime/cpu/cpu.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
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
        case Isa::kAvx512:
            return "avx512";
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
    if (!(b & (1u << 5))) return Isa::kScalar;
    // AVX-512F, with opmask, ZMM_Hi256 and Hi16_ZMM state enabled by the OS.
    if ((b & (1u << 16)) && (xcr0_lo & 0xe0) == 0xe0) return Isa::kAvx512;
    return Isa::kAvx2;
#elif defined(__aarch64__)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMD) ? Isa::kNeon : Isa::kScalar;
#else
    return Isa::kScalar;
#endif
}

#if defined(__aarch64__)
bool cpu_has_neon_dotprod() {
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
    return detect_isa() == Isa::kNeon && (getauxval(AT_HWCAP) & HWCAP_ASIMDDP);
}
#else
bool cpu_has_neon_dotprod() { return false; }
#endif

#if defined(__x86_64__)
bool cpu_has_avx512_vnni() {
    if (detect_isa() != Isa::kAvx512) return false;
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return (b & (1u << 30)) && (c & (1u << 11));  // AVX512BW, AVX512_VNNI
}
#endif

const char* activation_name(const Activation& act) {
    switch (act.kind) {
        case Activation::kNone:
            return "";
        case Activation::kRelu:
            return "relu";
        case Activation::kClip:
            return "clip";
        case Activation::kHardSwish:
            return "hardswish";
        case Activation::kSigmoid:
            return "sigmoid";
        case Activation::kSiLU:
            return "silu";
        case Activation::kHardSigmoid:
            return "hardsigmoid";
        case Activation::kExp:
            return "exp";
    }
    return "";
}

float apply_activation(const Activation& act, float x) {
    return with_activation_kind(act.kind,
                                [&](auto k) { return activate<decltype(k)::value>(act, x); });
}

float* scratch_floats(int slot, size_t n) {
    struct Buf {
        std::unique_ptr<float[]> p;
        size_t n = 0;
    };
    thread_local Buf bufs[7];
    Buf& b = bufs[slot];
    if (b.n < n) {
        b.p.reset(new float[n + 16]);
        b.n = n;
    }
    // 64-byte alignment inside the allocation.
    const uintptr_t a = reinterpret_cast<uintptr_t>(b.p.get());
    return reinterpret_cast<float*>((a + 63) & ~uintptr_t{63});
}

int f32_gemm_pick_mr(const KernelTable& kt, int64_t M) {
    auto padded = [&](int mr) { return (M + mr - 1) / mr * mr; };
    // The taller tile does more work per load: the alternative must save more than
    // about 6% of the rows (measured on AVX-512: 8 rows win at 64 channels, 12 at 256).
    if (kt.f32_gemm_mr_alt > 0 && padded(kt.f32_gemm_mr_alt) * 106 < padded(kt.f32_gemm_mr) * 100)
        return kt.f32_gemm_mr_alt;
    return kt.f32_gemm_mr;
}

const char* f32_gemm_name_for(const KernelTable& kt, int mr) {
    return mr == kt.f32_gemm_mr_alt && kt.f32_gemm_mr_alt > 0 ? kt.f32_gemm_name_alt
                                                              : kt.f32_gemm_name;
}

int64_t f32_packed_a_size(int64_t M, int64_t K, int mr) {
    return (M + mr - 1) / mr * mr * std::max<int64_t>(K, 1);
}

void f32_pack_a(int64_t M, int64_t K, const float* A, int64_t lda, int mr, float* out) {
    const int64_t Mpad = (M + mr - 1) / mr * mr;
    for (int64_t pc = 0; pc < K; pc += kF32GemmKC) {
        const int64_t kc = std::min(kF32GemmKC, K - pc);
        float* block = out + pc * Mpad;
        for (int64_t p = 0; p < Mpad; p += mr) {
            float* panel = block + p * kc;
            for (int64_t k = 0; k < kc; ++k) {
                for (int64_t i = 0; i < mr; ++i) {
                    panel[k * mr + i] = p + i < M ? A[(p + i) * lda + pc + k] : 0.0f;
                }
            }
        }
    }
}

namespace {

#if defined(__x86_64__)
// The AVX2 int8 convolution tiles (the AVX2 table's, and the AVX-512 one's
// without VNNI).
void set_avx2_int8_conv(KernelTable& t) {
    t.qu8_pack_panel = qu8_pack_panel_avx2;
    t.qu8_conv_tile = qu8_conv_tile_avx2;
    t.qu8_conv_name = "qu8_conv_6x16_avx2";
    t.qu8_k_per_group = 2;
    t.qu8_pack_panel_7bit = qu8_pack_panel_7bit_avx2;
    t.qu8_conv_tile_7bit = qu8_conv_tile_7bit_avx2;
    t.qu8_conv_name_7bit = "qu8_conv_7bit_6x16_avx2";
}
#endif

KernelTable make_table(Isa isa) {
    KernelTable t;
    t.isa = Isa::kScalar;
    t.f32_gemm = f32_gemm_scalar;
    t.f32_gemm_packed = f32_gemm_packed_scalar;
    t.f32_gemm_mr = 4;
    t.f32_gemm_nr = 8;
    t.f32_gemm_name = "f32_gemm_scalar";
    t.f32_gemv = f32_gemv_scalar;
    t.f32_gemv_nm = f32_gemv_nm_scalar;
    t.f32_gemv_nm_lanes = 4;
    t.f32_gemv_nm_name = "f32_gemv_nm_4_scalar";
    t.f32_winograd_in = f32_winograd_in_scalar;
    t.f32_winograd_out = f32_winograd_out_scalar;
    t.f32_dwconv = f32_dwconv_scalar;
    t.f32_dwconv_name = "f32_dwconv_scalar";
    t.f32_dwconv_group = f32_dwconv_group_scalar;
    t.f32_dwconv_lanes = 4;
    t.f32_maxpool = f32_maxpool_scalar;
    t.f32_maxpool_group = f32_maxpool_group_scalar;
    t.f32_maxpool_name = "f32_maxpool_scalar";
    t.f32_activate = f32_activate_scalar;
    t.f32_spmm = f32_spmm_scalar;
    t.f32_spmm_cols = 16;
    t.f32_spmm_name = "f32_spmm_16_scalar";
#if defined(__x86_64__)
    if (isa == Isa::kAvx2) {
        t.isa = Isa::kAvx2;
        t.f32_gemm = f32_gemm_6x16_avx2;
        t.f32_gemm_packed = f32_gemm_packed_6x16_avx2;
        t.f32_gemm_mr = 6;
        t.f32_gemm_nr = 16;
        t.f32_gemm_name = "f32_gemm_6x16_avx2";
        t.f32_gemv = f32_gemv_avx2;
        t.f32_gemv_nm = f32_gemv_nm_avx2;
        t.f32_gemv_nm_lanes = 8;
        t.f32_gemv_nm_name = "f32_gemv_nm_8_avx2";
        t.f32_winograd_in = f32_winograd_in_avx2;
        t.f32_winograd_out = f32_winograd_out_avx2;
        t.f32_dwconv = f32_dwconv_avx2;
        t.f32_dwconv_name = "f32_dwconv_avx2";
        t.f32_dwconv_group = f32_dwconv_group_avx2;
        t.f32_dwconv_lanes = 8;
        t.f32_maxpool = f32_maxpool_avx2;
        t.f32_maxpool_group = f32_maxpool_group_avx2;
        t.f32_maxpool_name = "f32_maxpool_avx2";
        t.f32_activate = f32_activate_avx2;
        t.f32_spmm = f32_spmm_avx2;
        t.f32_spmm_cols = 32;
        t.f32_spmm_name = "f32_spmm_32_avx2";
        set_avx2_int8_conv(t);
        t.qu8_quantize = qu8_quantize_avx2;
        t.qu8_dequantize = qu8_dequantize_avx2;
        t.qu8_add = qu8_add_avx2;
        t.qu8_requantize = qu8_requantize_avx2;
    }
    if (isa == Isa::kAvx512) {
        t.isa = Isa::kAvx512;
        t.f32_gemm = f32_gemm_12x32_avx512;
        t.f32_gemm_packed = f32_gemm_packed_12x32_avx512;
        t.f32_gemm_mr = 12;
        t.f32_gemm_mr_alt = 8;
        t.f32_gemm_name_alt = "f32_gemm_8x32_avx512";
        t.f32_gemm_nr = 32;
        t.f32_gemm_name = "f32_gemm_12x32_avx512";
        t.f32_gemv = f32_gemv_avx512;
        t.f32_gemv_nm = f32_gemv_nm_avx512;
        t.f32_gemv_nm_lanes = 16;
        t.f32_gemv_nm_name = "f32_gemv_nm_16_avx512";
        t.f32_winograd_in = f32_winograd_in_avx512;
        t.f32_winograd_out = f32_winograd_out_avx512;
        t.f32_dwconv = f32_dwconv_avx512;
        t.f32_dwconv_name = "f32_dwconv_avx512";
        t.f32_dwconv_group = f32_dwconv_group_avx512;
        t.f32_dwconv_lanes = 16;
        t.f32_maxpool = f32_maxpool_avx512;
        t.f32_maxpool_group = f32_maxpool_group_avx512;
        t.f32_maxpool_name = "f32_maxpool_avx512";
        t.f32_activate = f32_activate_avx512;
        t.f32_spmm = f32_spmm_avx512;
        t.f32_spmm_cols = 64;
        t.f32_spmm_name = "f32_spmm_64_avx512";
        t.f32_conv_tile = f32_conv_tile_avx512;
        t.f32_conv_tile_store = f32_conv_tile_store_avx512;
        t.f32_conv_tile_oc = 64;
        t.f32_conv_tile_lanes = 16;
        t.f32_conv_tile_name = "f32_conv_direct_64x6_avx512";
        t.f32_conv_rows = f32_conv_rows_avx512;
        t.f32_conv_rows_name = "f32_conv_rows_8x48_avx512";
        set_avx2_int8_conv(t);  // without VNNI: the AVX2 tiles
        t.qu8_quantize = qu8_quantize_avx512;
        t.qu8_dequantize = qu8_dequantize_avx512;
        t.qu8_add = qu8_add_avx512;
        t.qu8_requantize = qu8_requantize_avx512;
        if (cpu_has_avx512_vnni()) {
            t.qu8_pack_panel = qu8_pack_panel_vnni;
            t.qu8_conv_tile = qu8_conv_tile_vnni;
            t.qu8_conv_tile_direct = qu8_conv_tile_direct_vnni;
            t.qu8_conv_tile_lanes = qu8_conv_tile_lanes_vnni;
            t.qu8_scatter = qu8_scatter_avx512bw;
            t.qu8_conv_name = "qu8_conv_6x64_vnni";
            t.qu8_k_per_group = 4;
            t.qu8_pack_panel_7bit = nullptr;  // VNNI is exact and faster for any weights
            t.qu8_conv_tile_7bit = nullptr;
        }
    }
#endif
#if defined(__aarch64__)
    if (isa == Isa::kNeon) {
        t.isa = Isa::kNeon;
        t.f32_gemm = f32_gemm_8x8_neon;
        t.f32_gemm_packed = f32_gemm_packed_8x8_neon;
        t.f32_gemm_mr = 8;
        t.f32_gemm_nr = 8;
        t.f32_gemm_name = "f32_gemm_8x8_neon";
        t.f32_gemv = f32_gemv_neon;
        t.f32_gemv_nm = f32_gemv_nm_neon;
        t.f32_gemv_nm_lanes = 4;
        t.f32_gemv_nm_name = "f32_gemv_nm_4_neon";
        t.f32_winograd_in = f32_winograd_in_neon;
        t.f32_winograd_out = f32_winograd_out_neon;
        t.f32_dwconv = f32_dwconv_neon;
        t.f32_dwconv_name = "f32_dwconv_neon";
        t.qu8_pack_panel = qu8_pack_panel_neon;
        t.qu8_conv_tile = qu8_conv_tile_neon;
        t.qu8_conv_name = "qu8_conv_6x8_neon";
        t.qu8_k_per_group = 2;
        if (cpu_has_neon_dotprod()) {  // sdot: 4 products per lane instead of 2 vmlal
            t.qu8_pack_panel = qu8_pack_panel_sdot;
            t.qu8_conv_tile = qu8_conv_tile_sdot;
            t.qu8_conv_name = "qu8_conv_6x8_sdot";
            t.qu8_k_per_group = 4;
        }
        t.qu8_quantize = qu8_quantize_neon;
        t.qu8_dequantize = qu8_dequantize_neon;
        t.qu8_add = qu8_add_neon;
        t.qu8_requantize = qu8_requantize_neon;  // depthwise int8 on f32_dwconv_neon
        t.f32_dwconv_group = f32_dwconv_group_neon;
        t.f32_dwconv_lanes = 4;
        t.f32_maxpool = f32_maxpool_neon;
        t.f32_maxpool_group = f32_maxpool_group_neon;
        t.f32_maxpool_name = "f32_maxpool_neon";
        t.f32_activate = f32_activate_neon;
        t.f32_spmm = f32_spmm_neon;
        t.f32_spmm_cols = 16;
        t.f32_spmm_name = "f32_spmm_16_neon";
    }
#endif
    return t;
}

Isa capped_isa() {
    Isa isa = detect_isa();
    if (const char* cap = std::getenv("PARE_ISA")) {
        if (std::strcmp(cap, "scalar") == 0) isa = Isa::kScalar;
        // "avx2", "avx512" or "neon" cap at that level: they never raise what the CPU
        // supports.
        if (std::strcmp(cap, "neon") == 0 && isa != Isa::kNeon) isa = Isa::kScalar;
        if (std::strcmp(cap, "avx2") == 0)
            isa = (isa == Isa::kAvx2 || isa == Isa::kAvx512) ? Isa::kAvx2 : Isa::kScalar;
        if (std::strcmp(cap, "avx512") == 0 && isa != Isa::kAvx512)
            isa = isa == Isa::kAvx2 ? Isa::kAvx2 : Isa::kScalar;
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
    static const KernelTable neon = make_table(Isa::kNeon);
    static const KernelTable avx512 = make_table(Isa::kAvx512);
    const Isa cpu = detect_isa();
    if (isa == Isa::kScalar) return &scalar;
    if (isa == Isa::kAvx2 && (cpu == Isa::kAvx2 || cpu == Isa::kAvx512)) return &avx2;
    if (isa == Isa::kAvx512 && cpu == Isa::kAvx512) return &avx512;
    if (isa == Isa::kNeon && cpu == Isa::kNeon) return &neon;
    return nullptr;
}

}  // namespace pare
