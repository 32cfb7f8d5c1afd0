// The per-ISA entry points of the plane kernels (depthwise convolution, max
// pooling, the channel-group depthwise kernel, the Winograd transforms, the
// activations), written
// once: each ISA's kernel file includes this header and expands
// PARE_PLANE_KERNELS(isa, V, U) with its vector width V (floats) and U, the
// vectors per step of the plane kernels. Bodies: dwconv_impl.h, winograd_impl.h,
// conv_tile_impl.h.
#pragma once

#include "runtime/kernels/conv_tile_impl.h"
#include "runtime/kernels/dwconv_impl.h"
#include "runtime/kernels/spmm_impl.h"
#include "runtime/kernels/winograd_impl.h"

#define PARE_PLANE_KERNELS(ISA, V, U)                                                             \
    void f32_dwconv_##ISA(const float* x, int64_t H, int64_t W, const float* w, int64_t KH,       \
                          int64_t KW, int64_t sh, int64_t sw, int64_t pt, int64_t pl, float bias, \
                          float* y, int64_t OH, int64_t OW, const Activation& act) {              \
        dwconv_plane<V, false, U>(x, H, W, w, KH, KW, sh, sw, pt, pl, bias, y, OH, OW, act);      \
    }                                                                                             \
    void f32_maxpool_##ISA(const float* x, int64_t H, int64_t W, int64_t KH, int64_t KW,          \
                           int64_t sh, int64_t sw, int64_t pt, int64_t pl, float* y, int64_t OH,  \
                           int64_t OW) {                                                          \
        dwconv_plane<V, true, U>(x, H, W, nullptr, KH, KW, sh, sw, pt, pl, 0.0f, y, OH, OW,       \
                                 Activation{});                                                   \
    }                                                                                             \
    void f32_dwconv_group_##ISA(const float* x, int64_t H, int64_t W, int64_t ldx,                \
                                const float* wt, const float* bias, int64_t KH, int64_t KW,       \
                                int64_t sh, int64_t sw, int64_t pt, int64_t pl, float* y,         \
                                int64_t OH, int64_t OW, int64_t ldy, const Activation& act) {     \
        dwconv_group<V>(x, H, W, ldx, wt, bias, KH, KW, sh, sw, pt, pl, y, OH, OW, ldy, act);     \
    }                                                                                             \
    void f32_maxpool_group_##ISA(const float* x, int64_t H, int64_t W, int64_t ldx, int64_t KH,   \
                                 int64_t KW, int64_t sh, int64_t sw, int64_t pt, int64_t pl,      \
                                 float* y, int64_t OH, int64_t OW, int64_t ldy) {                 \
        dwconv_group<V, true>(x, H, W, ldx, nullptr, nullptr, KH, KW, sh, sw, pt, pl, y, OH, OW,  \
                              ldy, Activation{});                                                 \
    }                                                                                             \
    void f32_winograd_in_##ISA(const float* x, int64_t H, int64_t W, int64_t th, int64_t TW,      \
                               int64_t pt, int64_t pl, float* v, int64_t ldv) {                   \
        winograd_input_row<V>(x, H, W, th, TW, pt, pl, v, ldv);                                   \
    }                                                                                             \
    void f32_winograd_out_##ISA(const float* m, int64_t ldm, int64_t th, int64_t TW, float* y,    \
                                int64_t OH, int64_t OW, float bias, const float* r,               \
                                const Activation& act) {                                          \
        winograd_output_row<V>(m, ldm, th, TW, y, OH, OW, bias, r, act);                          \
    }                                                                                             \
    void f32_activate_##ISA(const Activation& act, float* x, int64_t n) {                         \
        activate_span<V>(act, x, n);                                                              \
    }                                                                                             \
    void f32_spmm_##ISA(const int32_t* row_ptr, const int32_t* col, const float* val,             \
                        int64_t rows, const float* x, const int64_t* xoff, int64_t np,            \
                        const float* bias, const float* r, float* y, int64_t ldy,                 \
                        const Activation& act) {                                                  \
        spmm_rows<V>(row_ptr, col, val, rows, x, xoff, np, bias, r, y, ldy, act);                 \
    }

// The direct convolution's tile (up to 4 weight vectors by 6 positions), its store, and
// the row tile of narrow layers (8 channels by up to 3 vectors of positions).
#define PARE_CONV_TILE_KERNELS(ISA, V)                                                            \
    void f32_conv_tile_##ISA(const float* w, const int64_t* koff, int64_t K, const float* x,      \
                             const int64_t* pos, int oc, int np, float* acc, bool accumulate) {   \
        conv_tile<V>(w, koff, K, x, pos, oc, np, acc, accumulate);                                \
    }                                                                                             \
    void f32_conv_tile_store_##ISA(const float* acc, int oc, int64_t n, int64_t m, float* y,      \
                                   int64_t ldy, const float* bias, const float* r,                \
                                   const Activation& act) {                                       \
        conv_tile_store<V>(acc, oc, n, m, y, ldy, bias, r, act);                                  \
    }                                                                                             \
    void f32_conv_rows_##ISA(const float* w, const int64_t* koff, int64_t K, const float* x,      \
                             const int64_t* xoff, const int64_t* yoff, const int* valid, int nv,  \
                             int64_t m, float* y, int64_t ldy, const float* bias, const float* r, \
                             const Activation& act) {                                             \
        conv_rows<V>(w, koff, K, x, xoff, yoff, valid, nv, m, y, ldy, bias, r, act);              \
    }
