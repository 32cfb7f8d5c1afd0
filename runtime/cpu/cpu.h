// CPU features and the kernel dispatch table, filled once.
//
// The ISA is detected with CPUID plus the XCR0 check (the OS must save YMM state
// for AVX2, and opmask and ZMM state for AVX-512, to be usable) on x86-64, and
// hwcaps on aarch64. The environment variable PARE_ISA=scalar|avx2|avx512|neon
// caps the choice, so tests can run every path one machine supports. Optimized kernels live in
// runtime/kernels/<arch>/<isa>/ and are reached only through this table; the reference kernels in
// runtime/ops/ are always compiled and are the oracle for every entry here.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace pare {

// Levels: kAvx512 (AVX-512F) implies kAvx2 (AVX2 + FMA) on x86-64.
enum class Isa { kScalar = 0, kAvx2 = 1, kNeon = 2, kAvx512 = 3 };

const char* isa_name(Isa isa);
// What the CPU and OS support (ignores PARE_ISA).
Isa detect_isa();

// An activation applied to a kernel's outputs as they are stored (fused).
struct Activation {
    enum Kind : uint8_t {
        kNone,
        kRelu,
        kClip,
        kHardSwish,
        kSigmoid,
        kSiLU,
        kHardSigmoid,
        kExp  // not fused into kernels: the Softmax kernel's exponentials (vexp)
    };        // SiLU: x * sigmoid(x); HardSigmoid: max(0, min(1, alpha * x + beta))
    Kind kind = kNone;
    float lo = 0.0f, hi = 0.0f;       // kClip bounds
    float alpha = 0.0f, beta = 0.0f;  // kHardSigmoid
};
const char* activation_name(const Activation& act);
// The scalar definition every fused epilogue follows: activate<K> for an activation
// of kind K (inline, so that loops over it vectorize), apply_activation for any.
template <Activation::Kind K>
inline float activate(const Activation& act, float x) {
    switch (K) {
        case Activation::kNone:
            return x;
        case Activation::kRelu:
            return x > 0.0f ? x : 0.0f;
        case Activation::kClip:
            return std::min(std::max(x, act.lo), act.hi);
        case Activation::kHardSwish:
            return x * std::min(std::max(x + 3.0f, 0.0f), 6.0f) / 6.0f;
        case Activation::kSigmoid:
            return 1.0f / (1.0f + std::exp(-x));
        case Activation::kSiLU:
            return x / (1.0f + std::exp(-x));
        case Activation::kHardSigmoid:
            return std::max(0.0f, std::min(1.0f, act.alpha * x + act.beta));
        case Activation::kExp:
            return std::exp(x);
    }
    return x;
}
// f(std::integral_constant<Activation::Kind, K>{}) for the kind k: the one place a
// kind known at run time becomes activate<K>'s (apply_activation, activated_row).
template <class F>
decltype(auto) with_activation_kind(Activation::Kind k, F&& f) {
    using K = Activation::Kind;
    switch (k) {
        case Activation::kRelu:
            return f(std::integral_constant<K, Activation::kRelu>{});
        case Activation::kClip:
            return f(std::integral_constant<K, Activation::kClip>{});
        case Activation::kHardSwish:
            return f(std::integral_constant<K, Activation::kHardSwish>{});
        case Activation::kSigmoid:
            return f(std::integral_constant<K, Activation::kSigmoid>{});
        case Activation::kSiLU:
            return f(std::integral_constant<K, Activation::kSiLU>{});
        case Activation::kHardSigmoid:
            return f(std::integral_constant<K, Activation::kHardSigmoid>{});
        case Activation::kExp:
            return f(std::integral_constant<K, Activation::kExp>{});
        case Activation::kNone:
            break;
    }
    return f(std::integral_constant<K, Activation::kNone>{});
}
float apply_activation(const Activation& act, float x);

// A per-thread scratch buffer of at least n floats (64-byte aligned), one per
// slot (0: packed B panels, 1: packed A of the unpacked GEMM, 2: a convolution's
// gather table or tap offsets, or a transposed convolution's product, 3: the padded
// plane of a depthwise convolution, a direct convolution's padded input or a
// Winograd tile row's input phases, 4 and 5: a Winograd convolution's transformed
// inputs and products; 4 also a direct convolution's block of tiles; 6: a sparse
// convolution's im2col panel, a direct convolution's row vectors or a dense
// layer's transposed operands). Lives until the thread ends; kernels use it
// instead of allocating per call.
float* scratch_floats(int slot, size_t n);

// The GEMM's A operand (weights) packed once: MR-row panels per KC-deep block of K,
// zero-padded to a whole panel. Layout: block pc (K offset, step kF32GemmKC) starts
// at pc * Mpad (Mpad = M rounded up to MR); panel p of that block at + p * MR * kc;
// element (k, i) at + k * MR + i.
constexpr int64_t kF32GemmKC = 256;
struct F32PackedA {
    const float* data = nullptr;
    int64_t M = 0, K = 0;
    int mr = 1;
};
// Floats needed to pack an M x K matrix for micro-tile height mr.
int64_t f32_packed_a_size(int64_t M, int64_t K, int mr);
// Packs A (row-major, leading dimension lda) into out (f32_packed_a_size floats).
void f32_pack_a(int64_t M, int64_t K, const float* A, int64_t lda, int mr, float* out);

// The GEMM's B operand [K, N]: a row-major matrix (data, leading dimension ld), or
// rows produced on demand (a convolution's im2col matrix, never stored whole):
// rows(ctx, k, j, n, out) writes B[k, col0 + j .. col0 + j + n) to out. The GEMM
// copies B block by block into its own panels either way.
struct F32BSource {
    using RowsFn = void (*)(const void* ctx, int64_t k, int64_t j, int64_t n, float* out);
    const float* data = nullptr;
    int64_t ld = 0;
    RowsFn rows = nullptr;
    const void* ctx = nullptr;
    int64_t col0 = 0;
    F32BSource() = default;
    F32BSource(const float* d, int64_t l) : data(d), ld(l) {}
    F32BSource(RowsFn r, const void* c) : rows(r), ctx(c) {}
    // The same operand from column j on.
    F32BSource from_column(int64_t j) const {
        F32BSource s = *this;
        if (rows) {
            s.col0 += j;
        } else {
            s.data += j;
        }
        return s;
    }
};

// Rows [m0, m1) of C[M,N] = act(A[M,K] * B[K,N] + bias[m] + R[M,N]) with A packed
// for this kernel's mr; m0 must be a multiple of mr. C and R have leading dimension
// ldc (both point at row 0); bias and R may be nullptr (R: a residual added as the
// results are stored, e.g. a skip connection; it may not overlap C). C is
// overwritten.
using F32GemmPackedFn = void (*)(const F32PackedA& a, int64_t m0, int64_t m1, int64_t N,
                                 const F32BSource& B, float* C, int64_t ldc, const float* bias,
                                 const float* R, const Activation& act);

// C[M,N] = A[M,K] * B[K,N] (+ bias[m] per row when bias != nullptr), row-major
// with leading dimensions; C is overwritten. Packs A into a scratch buffer, then
// runs the packed GEMM (single-threaded).
using F32GemmFn = void (*)(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                           const float* B, int64_t ldb, float* C, int64_t ldc, const float* bias);

// y[0:n] += sum_k x[k] * W[k, 0:n], W row-major with leading dimension ldw (a
// batch-1 fully connected layer streaming its weights).
using F32GemvFn = void (*)(const float* x, int64_t K, const float* W, int64_t ldw, int64_t n,
                           float* y);

// The same product for N:M-pruned weights, at most `keep` (1 or 2) nonzeros in
// every group of 4 consecutive k of each output (runtime/kernels/gemv_impl.h),
// outputs across the lanes, `blocks` blocks of V = the table's f32_gemv_nm_lanes
// outputs. Per block, group g and kept slot j (keep per group): V weights in val
// (lane l: output l's; 0 in unused slots) and V 2-bit positions in the group in
// idx (one V/4-byte word, lane l in bits 2l, 2l+1). y[b*V + l] = the sum of
// weight * x[4g + position]. x needs V floats readable past K. y is overwritten.
using F32GemvNmFn = void (*)(const float* x, int64_t groups, int keep, const float* val,
                             const uint8_t* idx, int64_t blocks, float* y);

// Winograd F(4x4, 3x3) transforms of one tile row (runtime/kernels/winograd_impl.h):
// the input tiles of row th of a channel plane into v (element e of tile tw at
// v[e * ldv + tw]); and the output rows of one channel from m (same layout), with
// bias, an optional residual (y's layout) and the activation.
using F32WinogradInFn = void (*)(const float* x, int64_t H, int64_t W, int64_t th, int64_t TW,
                                 int64_t pt, int64_t pl, float* v, int64_t ldv);
using F32WinogradOutFn = void (*)(const float* m, int64_t ldm, int64_t th, int64_t TW, float* y,
                                  int64_t OH, int64_t OW, float bias, const float* r,
                                  const Activation& act);

// Depthwise convolution of one channel plane (runtime/kernels/dwconv_impl.h):
// y[oh,ow] = act(bias + sum w[kh,kw] * x[oh*sh - pt + kh, ow*sw - pl + kw]), zero
// outside x; strides 1 or 2, dilation 1.
using F32DwConvFn = void (*)(const float* x, int64_t H, int64_t W, const float* w, int64_t KH,
                             int64_t KW, int64_t sh, int64_t sw, int64_t pt, int64_t pl, float bias,
                             float* y, int64_t OH, int64_t OW, const Activation& act);

// The depthwise convolution of f32_dwconv_lanes channels at once (planes ldx
// floats apart in x, ldy apart in y), vectorized across channels, for small planes:
// wt holds each tap's weights for those channels (taps x lanes), bias one per
// channel; geometry as F32DwConvFn. With plane strides larger than H*W and OH*OW
// it computes a band of output rows of larger planes.
using F32DwConvGroupFn = void (*)(const float* x, int64_t H, int64_t W, int64_t ldx,
                                  const float* wt, const float* bias, int64_t KH, int64_t KW,
                                  int64_t sh, int64_t sw, int64_t pt, int64_t pl, float* y,
                                  int64_t OH, int64_t OW, int64_t ldy, const Activation& act);
// Max pooling of f32_dwconv_lanes planes at once, strides as F32DwConvGroupFn.
using F32MaxPoolGroupFn = void (*)(const float* x, int64_t H, int64_t W, int64_t ldx, int64_t KH,
                                   int64_t KW, int64_t sh, int64_t sw, int64_t pt, int64_t pl,
                                   float* y, int64_t OH, int64_t OW, int64_t ldy);

// 2-D max pooling of one plane, same geometry as F32DwConvFn (positions outside x
// never win).
using F32MaxPoolFn = void (*)(const float* x, int64_t H, int64_t W, int64_t KH, int64_t KW,
                              int64_t sh, int64_t sw, int64_t pt, int64_t pl, float* y, int64_t OH,
                              int64_t OW);

// The direct convolution's register tile (runtime/kernels/conv_tile_impl.h): for np
// (1..6) output positions and oc output channels (a multiple of the table's
// f32_conv_tile_lanes up to its f32_conv_tile_oc),
// acc[p * oc + o] = (accumulate ? acc[p * oc + o] : 0) + sum_{k < K} w[k * oc + o] *
// x[pos[p] + koff[k]] (channels across the lanes, each position's input broadcast).
using F32ConvTileFn = void (*)(const float* w, const int64_t* koff, int64_t K, const float* x,
                               const int64_t* pos, int oc, int np, float* acc, bool accumulate);
// Stores n positions' tiles (acc as above, oc channels per position) as m rows of y:
// y[o * ldy + p] = act(acc[p * oc + o] + bias[o] + r[o * ldy + p]) for o < m, p < n
// (bias and r may be null).
using F32ConvTileStoreFn = void (*)(const float* acc, int oc, int64_t n, int64_t m, float* y,
                                    int64_t ldy, const float* bias, const float* r,
                                    const Activation& act);

// The direct convolution's row tile for layers of at most 8 output channels
// (runtime/kernels/conv_tile_impl.h): nv (1..3) vectors of f32_conv_tile_lanes
// consecutive output positions by 8 channels (w: [k][8], zero past m);
// y[o * ldy + yoff[i] + l] = act(sum_k w[k * 8 + o] * x[xoff[i] + koff[k] + l] +
// bias[o] + r[o * ldy + yoff[i] + l]) for o < m, l < valid[i] (bias, r may be
// null; x is read up to lanes - 1 floats past the last valid position).
using F32ConvRowsFn = void (*)(const float* w, const int64_t* koff, int64_t K, const float* x,
                               const int64_t* xoff, const int64_t* yoff, const int* valid, int nv,
                               int64_t m, float* y, int64_t ldy, const float* bias, const float* r,
                               const Activation& act);

// Sparse weights times dense inputs (runtime/kernels/spmm_impl.h): for each row m <
// rows of a CSR matrix (row_ptr, col, val) and positions p < np,
// y[m * ldy + p] = act(bias[m] + sum_j val[j] * x[xoff[col[j]] + p] + r[m * ldy + p])
// (bias and r may be null): column k's inputs start at x + xoff[k]. Fastest with
// np a multiple of the table's f32_spmm_cols (one row's accumulators).
using F32SpmmFn = void (*)(const int32_t* row_ptr, const int32_t* col, const float* val,
                           int64_t rows, const float* x, const int64_t* xoff, int64_t np,
                           const float* bias, const float* r, float* y, int64_t ldy,
                           const Activation& act);

// x[0:n] = act(x[0:n]) in place (runtime/kernels/vec_math.h, the ISA's vectors).
using F32ActivateFn = void (*)(const Activation& act, float* x, int64_t n);

// int8 convolution as a GEMM over packed panels (uint8 activations, int8 weights,
// int32 accumulators: exact). A panel holds up to kQu8TileCols positions of K rows
// in groups of G = the table's qu8_k_per_group rows: panel[g * kQu8TileCols + p] =
// rows Gg..Gg+G-1 at position p in one int32, as 4 bytes (G = 4) or 2 int16 (G = 2),
// rows past K and positions past np zero. The weights likewise: a[g * kQu8TileRows
// + r] holds row r's G weights of group g, as int8 or int16.
constexpr int kQu8TileRows = 6;   // output channels per tile
constexpr int kQu8TileCols = 64;  // positions per panel
// Packs positions [0, np) (np <= kQu8TileCols) of K rows, row k at x + koff[k].
using Qu8PackPanelFn = void (*)(const uint8_t* x, const int64_t* koff, int64_t K, int64_t np,
                                int32_t* panel);
// For r < rows (<= kQu8TileRows), p < np: acc = corr[r] + sum over g of the dot
// product of a[g * kQu8TileRows + r] (G weights) with panel[g * kQu8TileCols + p]
// (G activations), then y[r * ldy + p] = requantize(acc, mult[r], zy, lo, hi)
// (runtime/ops/requantize.h). a holds all kQu8TileRows rows (zero past `rows`).
// mult null: no requantization, the int32 acc itself is stored, y taken as an
// int32_t* and ldy counted in int32 (the int8 GEMM's MatMulInteger and float outputs).
using Qu8ConvTileFn = void (*)(const int32_t* a, const int32_t* panel, int64_t groups, int rows,
                               int64_t np, const int32_t* corr, const float* mult, int32_t zy,
                               int32_t lo, int32_t hi, uint8_t* y, int64_t ldy);
// The same tile reading the activations in place (G = 4): group g's positions
// p < np are the int32 at x + goff[g] + p (4 input channels' bytes at one
// position: the convolution interleaves its input by channel quads once, instead
// of packing a panel per tile). Entries up to x + goff[g] + 63 must be readable.
using Qu8ConvTileDirectFn = void (*)(const int32_t* a, const int32_t* x, const int64_t* goff,
                                     int64_t groups, int rows, int64_t np, const int32_t* corr,
                                     const float* mult, int32_t zy, int32_t lo, int32_t hi,
                                     uint8_t* y, int64_t ldy);
// The direct tile transposed, for layers of many channels over few positions:
// 64 output channels in the vector lanes (w: per group, 64 channels' 4 weights)
// and rows <= 6 output positions, position r's group g at x + goff[g] + pos[r]
// (any grid positions: none computed to be dropped). For c < nch, r < rows:
// y[c * ldy + r] = requantize(corr[c] + the dot products, mult[c], zy, lo, hi);
// corr and mult hold 64 entries.
using Qu8ConvTileLanesFn = void (*)(const int32_t* w, const int32_t* x, const int64_t* goff,
                                    int64_t groups, const int64_t* pos, int rows, int nch,
                                    const int32_t* corr, const float* mult, int32_t zy, int32_t lo,
                                    int32_t hi, uint8_t* y, int64_t ldy);
constexpr int kQu8LaneChannels = 64;
constexpr int kQu8LaneRows = 6;
// A run of a tile's positions that are outputs (a convolution's panels run over a
// grid wider than the output: the columns past its width are dropped).
struct Qu8Segment {
    int32_t q = 0, len = 0;  // positions q..q+len-1 of the tile's rows (<= kQu8TileCols)
    int64_t dst = 0;         // where they go in each output row
};
// For r < rows, each segment s, i < s.len: y[r * ldy + s.dst + i] = tile[r *
// kQu8TileCols + s.q + i].
using Qu8ScatterFn = void (*)(const uint8_t* tile, int rows, const Qu8Segment* seg, int nseg,
                              uint8_t* y, int64_t ldy);

// Elementwise uint8 kernels (per-tensor parameters), lane for lane what the
// reference kernels compute: y = QuantizeLinear(x, scale, zp) to uint8;
// y = DequantizeLinear(x, scale, zp); y = QLinearAdd's requantize_add(a - za, b - zb,
// ka, kb, zc, lo, hi) (runtime/ops/requantize.h).
using Qu8QuantizeFn = void (*)(const float* x, int64_t n, float scale, int32_t zp, uint8_t* y);
using Qu8DequantizeFn = void (*)(const uint8_t* x, int64_t n, float scale, int32_t zp, float* y);
// y[i] = requantize(int32(acc[i]) + corr, mult, zy, lo, hi) for float accumulators
// holding integers exactly (below 2^24 in magnitude).
using Qu8RequantizeFn = void (*)(const float* acc, int64_t n, int32_t corr, float mult, int32_t zy,
                                 int32_t lo, int32_t hi, uint8_t* y);
using Qu8AddFn = void (*)(const uint8_t* a, const uint8_t* b, int64_t n, float ka, float kb,
                          int32_t za, int32_t zb, int32_t zc, int32_t lo, int32_t hi, uint8_t* y);

struct KernelTable {
    Isa isa = Isa::kScalar;
    F32GemmFn f32_gemm = nullptr;
    F32GemmPackedFn f32_gemm_packed = nullptr;
    int f32_gemm_mr = 1;  // micro-tile height the packed A must use
    // Another height f32_gemm_packed also takes (F32PackedA::mr), for matrices whose
    // rows it pads less (AVX-512: 8 rows for 64 or 32 channels); 0 if none.
    int f32_gemm_mr_alt = 0;
    const char* f32_gemm_name_alt = "";
    int f32_gemm_nr = 1;  // micro-tile width (column splits align to it)
    const char* f32_gemm_name = "";
    F32GemvFn f32_gemv = nullptr;
    F32GemvNmFn f32_gemv_nm = nullptr;
    int f32_gemv_nm_lanes = 1;
    const char* f32_gemv_nm_name = "";
    F32WinogradInFn f32_winograd_in = nullptr;
    F32WinogradOutFn f32_winograd_out = nullptr;
    F32DwConvFn f32_dwconv = nullptr;
    const char* f32_dwconv_name = "";
    F32DwConvGroupFn f32_dwconv_group = nullptr;
    int f32_dwconv_lanes = 1;  // channels per f32_dwconv_group call
    F32MaxPoolFn f32_maxpool = nullptr;
    F32MaxPoolGroupFn f32_maxpool_group = nullptr;  // f32_dwconv_lanes planes at once
    const char* f32_maxpool_name = "";
    F32ActivateFn f32_activate = nullptr;
    F32SpmmFn f32_spmm = nullptr;
    int f32_spmm_cols = 1;
    const char* f32_spmm_name = "";
    // int8 convolution (null when the CPU has no kernel for it: the reference runs).
    Qu8PackPanelFn qu8_pack_panel = nullptr;
    Qu8ConvTileFn qu8_conv_tile = nullptr;
    const char* qu8_conv_name = "";
    int qu8_k_per_group = 4;  // G of the panel layout (above)
    // A faster tile for layers whose weights all lie in [-64, 64] (pare quantize
    // --reduce-range writes such): G = 4, vpmaddubsw's pair sums of at most
    // 2 * 255 * 64 cannot saturate. Null where the main tile is as fast (VNNI).
    Qu8PackPanelFn qu8_pack_panel_7bit = nullptr;
    Qu8ConvTileFn qu8_conv_tile_7bit = nullptr;
    const char* qu8_conv_name_7bit = "";
    Qu8ConvTileDirectFn qu8_conv_tile_direct = nullptr;  // VNNI; null elsewhere
    Qu8ConvTileLanesFn qu8_conv_tile_lanes = nullptr;    // VNNI; null elsewhere
    Qu8ScatterFn qu8_scatter = nullptr;                  // null: memcpy per segment and row
    Qu8QuantizeFn qu8_quantize = nullptr;
    Qu8DequantizeFn qu8_dequantize = nullptr;
    Qu8AddFn qu8_add = nullptr;
    Qu8RequantizeFn qu8_requantize = nullptr;
    // The direct convolution (where it beats im2col and Winograd: AVX-512, whose 32
    // registers hold a 64-channel x 6-position tile); null elsewhere.
    F32ConvTileFn f32_conv_tile = nullptr;
    F32ConvTileStoreFn f32_conv_tile_store = nullptr;
    int f32_conv_tile_oc = 0;     // output channels of the widest tile
    int f32_conv_tile_lanes = 0;  // its step (one vector)
    const char* f32_conv_tile_name = "";
    F32ConvRowsFn f32_conv_rows = nullptr;  // null: narrow layers take the channel tile
    const char* f32_conv_rows_name = "";
};

// The table for the detected ISA capped by PARE_ISA (read once, at first use).
const KernelTable& kernels();
// The table for a given ISA, or nullptr if this build or CPU lacks it (tests).
const KernelTable* kernels_for(Isa isa);

// The micro-tile height to pack an M-row A with: the alternative when it pads M
// to clearly fewer rows (over 6% fewer), else the main one.
int f32_gemm_pick_mr(const KernelTable& kt, int64_t M);
// The GEMM's name for that height ("f32_gemm_8x32_avx512" for the alternative).
const char* f32_gemm_name_for(const KernelTable& kt, int mr);

// Kernel entry points (one file each under runtime/kernels/), declared by the table's
// function types: the GEMM's by its tile name, the others by the ISA's.
#define PARE_DECLARE_KERNELS(GEMM, ISA)                               \
    std::remove_pointer_t<F32GemmFn> f32_gemm_##GEMM;                 \
    std::remove_pointer_t<F32GemmPackedFn> f32_gemm_packed_##GEMM;    \
    std::remove_pointer_t<F32GemvFn> f32_gemv_##ISA;                  \
    std::remove_pointer_t<F32GemvNmFn> f32_gemv_nm_##ISA;             \
    std::remove_pointer_t<F32DwConvFn> f32_dwconv_##ISA;              \
    std::remove_pointer_t<F32DwConvGroupFn> f32_dwconv_group_##ISA;   \
    std::remove_pointer_t<F32MaxPoolFn> f32_maxpool_##ISA;            \
    std::remove_pointer_t<F32MaxPoolGroupFn> f32_maxpool_group_##ISA; \
    std::remove_pointer_t<F32WinogradInFn> f32_winograd_in_##ISA;     \
    std::remove_pointer_t<F32WinogradOutFn> f32_winograd_out_##ISA;   \
    std::remove_pointer_t<F32ActivateFn> f32_activate_##ISA;          \
    std::remove_pointer_t<F32SpmmFn> f32_spmm_##ISA;
PARE_DECLARE_KERNELS(scalar, scalar)
#if defined(__aarch64__)
PARE_DECLARE_KERNELS(8x8_neon, neon)
std::remove_pointer_t<Qu8PackPanelFn> qu8_pack_panel_neon;
std::remove_pointer_t<Qu8ConvTileFn> qu8_conv_tile_neon;
std::remove_pointer_t<Qu8PackPanelFn> qu8_pack_panel_sdot;  // dot-product extension
std::remove_pointer_t<Qu8ConvTileFn> qu8_conv_tile_sdot;
std::remove_pointer_t<Qu8QuantizeFn> qu8_quantize_neon;
std::remove_pointer_t<Qu8DequantizeFn> qu8_dequantize_neon;
std::remove_pointer_t<Qu8AddFn> qu8_add_neon;
std::remove_pointer_t<Qu8RequantizeFn> qu8_requantize_neon;
#endif
#if defined(__x86_64__)
PARE_DECLARE_KERNELS(6x16_avx2, avx2)
PARE_DECLARE_KERNELS(12x32_avx512, avx512)
std::remove_pointer_t<F32ConvTileFn> f32_conv_tile_avx512;
std::remove_pointer_t<F32ConvTileStoreFn> f32_conv_tile_store_avx512;
std::remove_pointer_t<F32ConvRowsFn> f32_conv_rows_avx512;
std::remove_pointer_t<Qu8PackPanelFn> qu8_pack_panel_avx2;
std::remove_pointer_t<Qu8ConvTileFn> qu8_conv_tile_avx2;
std::remove_pointer_t<Qu8PackPanelFn> qu8_pack_panel_7bit_avx2;
std::remove_pointer_t<Qu8ConvTileFn> qu8_conv_tile_7bit_avx2;
std::remove_pointer_t<Qu8QuantizeFn> qu8_quantize_avx2;
std::remove_pointer_t<Qu8DequantizeFn> qu8_dequantize_avx2;
std::remove_pointer_t<Qu8AddFn> qu8_add_avx2;
std::remove_pointer_t<Qu8RequantizeFn> qu8_requantize_avx2;
std::remove_pointer_t<Qu8QuantizeFn> qu8_quantize_avx512;
std::remove_pointer_t<Qu8DequantizeFn> qu8_dequantize_avx512;
std::remove_pointer_t<Qu8AddFn> qu8_add_avx512;
std::remove_pointer_t<Qu8RequantizeFn> qu8_requantize_avx512;
std::remove_pointer_t<Qu8PackPanelFn> qu8_pack_panel_vnni;
std::remove_pointer_t<Qu8ConvTileFn> qu8_conv_tile_vnni;
std::remove_pointer_t<Qu8ConvTileDirectFn> qu8_conv_tile_direct_vnni;
std::remove_pointer_t<Qu8ConvTileLanesFn> qu8_conv_tile_lanes_vnni;
std::remove_pointer_t<Qu8ScatterFn> qu8_scatter_avx512bw;
// AVX-512 VNNI (and BW) present and enabled (x86-64; the avx512 table's int8 kernels).
bool cpu_has_avx512_vnni();
bool cpu_has_neon_dotprod();  // aarch64 hwcap ASIMDDP (sdot/udot)
#endif
#undef PARE_DECLARE_KERNELS

}  // namespace pare
