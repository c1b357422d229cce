/* Depthwise conv2d (groups == C == OC), SIMD versions of the reference kernels in conv2d.c:
 * every output or gradient element gets the same float operations in the same order as
 * there (bias first, then taps in (kh, kw) order; weight gradients summed over the output
 * pixels (b, oh, ow) in order), so results are bit-identical. Channels run in blocks of 16
 * whose accumulators stay in vector registers. */
#include <omp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/status.h"
#include "kernels/activation.h"
#include "kernels/actmask.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/simd.h"

#define CB 16             /* channels per block */

bool dwconv2d_fast_applies(const conv2d_shape *s)
{
    return conv2d_uses_depthwise(s) && s->OC == s->C && s->K <= 7; /* <= 49 taps per pixel */
}

/* Output row (b, oh): y = bias, then += x * w over the taps in order. wt (K*K, C). */
#define dw_fwd_row_BODY                                                                     \
    const int K = s->K, C = s->C;                                                           \
    for (int ow = 0; ow < s->OW; ow++) {                                                    \
        float *yr = y + (size_t)ow * C;                                                     \
        int iw0 = ow * s->stride - s->pad;                                                  \
        for (int c0 = 0; c0 < C; c0 += CB) {                                                \
            int cw = C - c0 < CB ? C - c0 : CB;                                             \
            float acc[CB];                                                                  \
            if (cw == CB) {                                                                 \
                _Pragma("omp simd") for (int c = 0; c < CB; c++) acc[c] = b ? b[c0 + c] : 0.0f; \
                for (int kh = 0; kh < K; kh++) {                                            \
                    int ih = oh * s->stride - s->pad + kh;                                  \
                    if (ih < 0 || ih >= s->H) continue;                                     \
                    for (int kw = 0; kw < K; kw++) {                                        \
                        int iw = iw0 + kw;                                                  \
                        if (iw < 0 || iw >= s->W) continue;                                 \
                        const float *xr = xb + ((size_t)ih * s->W + iw) * C + c0;           \
                        const float *wr = wt + (size_t)(kh * K + kw) * C + c0;              \
                        _Pragma("omp simd") for (int c = 0; c < CB; c++) acc[c] += xr[c] * wr[c]; \
                    }                                                                       \
                }                                                                           \
                _Pragma("omp simd") for (int c = 0; c < CB; c++) yr[c0 + c] = acc[c];       \
                continue;                                                                   \
            }                                                                               \
            for (int c = c0; c < C; c++) {                                                  \
                float a = b ? b[c] : 0.0f;                                                  \
                for (int kh = 0; kh < K; kh++) {                                            \
                    int ih = oh * s->stride - s->pad + kh;                                  \
                    if (ih < 0 || ih >= s->H) continue;                                     \
                    for (int kw = 0; kw < K; kw++) {                                        \
                        int iw = iw0 + kw;                                                  \
                        if (iw < 0 || iw >= s->W) continue;                                 \
                        a += xb[((size_t)ih * s->W + iw) * C + c] * wt[(size_t)(kh * K + kw) * C + c]; \
                    }                                                                       \
                }                                                                           \
                yr[c] = a;                                                                  \
            }                                                                               \
        }                                                                                   \
    }
RP_SIMD_VARIANTS(dw_fwd_row, (float *restrict y, const float *restrict xb, const float *restrict wt,
                              const float *b, const conv2d_shape *s, int oh))

/* The same for K = 3 and C % CB == 0: per channel block the 9 weight vectors and the bias
 * stay in registers, pixels go four at a time (four independent sums in flight: one pixel's
 * chain of nine dependent adds leaves the adder idle), interior ones without bounds tests. Same
 * operations in the same order for every pixel. */
/* Four pixels d floats apart, each tap's weight loaded once. */
#define DW3_TAPS4(a0, a1, a2, a3, p, d)                                                     \
    for (int kh = 0; kh < 3; kh++) {                                                        \
        if (!rv[kh]) continue;                                                              \
        const float *q = r[kh] + (p);                                                       \
        for (int kw = 0; kw < 3; kw++, q += C) {                                            \
            rp_vec wk = wv[kh * 3 + kw];                                                    \
            a0 += RP_LDV(q) * wk;                                                           \
            a1 += RP_LDV(q + (d)) * wk;                                                     \
            a2 += RP_LDV(q + 2 * (d)) * wk;                                                 \
            a3 += RP_LDV(q + 3 * (d)) * wk;                                                 \
        }                                                                                   \
    }
/* Up to four pixels n <= 4 from ow (input column iw0 on), some of whose taps fall outside the row
 * (a border, or a row narrower than a quad): each pixel adds the taps inside, in (kh, kw) order,
 * as one pixel alone would; the four sums are independent, so they overlap (small layers' pixels
 * are nearly all at a border). */
#define DW3_TAPS_MASKED(a0, a1, a2, a3, n)                                                  \
    for (int kh = 0; kh < 3; kh++) {                                                        \
        if (!rv[kh]) continue;                                                              \
        for (int kw = 0; kw < 3; kw++) {                                                    \
            rp_vec wk = wv[kh * 3 + kw];                                                    \
            int iw = iw0 + kw;                                                              \
            const float *q = r[kh] + c0;                                                    \
            if (iw >= 0 && iw < s->W) a0 += RP_LDV(q + (size_t)iw * C) * wk;                \
            if (n > 1 && iw + S >= 0 && iw + S < s->W) a1 += RP_LDV(q + (size_t)(iw + S) * C) * wk; \
            if (n > 2 && iw + 2 * S >= 0 && iw + 2 * S < s->W) a2 += RP_LDV(q + (size_t)(iw + 2 * S) * C) * wk; \
            if (n > 3 && iw + 3 * S >= 0 && iw + 3 * S < s->W) a3 += RP_LDV(q + (size_t)(iw + 3 * S) * C) * wk; \
        }                                                                                   \
    }
/* The three input rows r[kh] of output row oh (rv[kh]: inside the image). */
#define DW3_FWD_ROWS                                                                        \
    const int C = s->C, S = s->stride;                                                      \
    const float *r[3];                                                                      \
    bool rv[3];                                                                             \
    for (int kh = 0; kh < 3; kh++) {                                                        \
        int ih = oh * S - s->pad + kh;                                                      \
        rv[kh] = ih >= 0 && ih < s->H;                                                      \
        r[kh] = xb + (size_t)(rv[kh] ? ih : 0) * s->W * C;                                  \
    }
#define dw3_fwd_row_BODY                                                                    \
    DW3_FWD_ROWS                                                                            \
    for (int c0 = 0; c0 < C; c0 += RP_VL) {                                                 \
        rp_vec wv[9], bv = {0};                                                             \
        for (int t = 0; t < 9; t++) wv[t] = RP_LDV(wt + (size_t)t * C + c0);                \
        if (b) bv = RP_LDV(b + c0);                                                         \
        for (int ow = 0; ow < s->OW;) {                                                     \
            int iw0 = ow * S - s->pad;                                                      \
            if (iw0 >= 0 && ow + 4 <= s->OW && iw0 + 3 * S + 2 < s->W) {                    \
                rp_vec a0 = bv, a1 = bv, a2 = bv, a3 = bv;                                  \
                size_t p = (size_t)iw0 * C + c0, d = (size_t)S * C;                         \
                DW3_TAPS4(a0, a1, a2, a3, p, d)                                             \
                float *yr = y + (size_t)ow * C + c0;                                        \
                RP_STV(yr, a0);                                                             \
                RP_STV(yr + C, a1);                                                         \
                RP_STV(yr + 2 * C, a2);                                                     \
                RP_STV(yr + 3 * C, a3);                                                     \
                ow += 4;                                                                    \
                continue;                                                                   \
            }                                                                               \
            int n = s->OW - ow < 4 ? s->OW - ow : 4;                                        \
            rp_vec a0 = bv, a1 = bv, a2 = bv, a3 = bv;                                      \
            DW3_TAPS_MASKED(a0, a1, a2, a3, n)                                              \
            float *yr = y + (size_t)ow * C + c0;                                            \
            RP_STV(yr, a0);                                                                 \
            if (n > 1) RP_STV(yr + C, a1);                                                  \
            if (n > 2) RP_STV(yr + 2 * C, a2);                                              \
            if (n > 3) RP_STV(yr + 3 * C, a3);                                              \
            ow += n;                                                                        \
        }                                                                                   \
    }
RP_SIMD_VARIANTS(dw3_fwd_row, (float *restrict y, const float *restrict xb, const float *restrict wt,
                               const float *b, const conv2d_shape *s, int oh))

/* Software prefetch (a hint: the same bits). A wide layer's input rows come from memory, read
 * in passes strided by the channel count that the hardware prefetchers follow poorly (one
 * thread on MobileNetV2's 6x-wide layers ran 2-3x slower than from cache). Spread over an output
 * row's pixels, the forward fetches the input rows the next output row adds (oh S - pad + 3 and,
 * at stride 2, the one after), every channel of S pixels per output pixel: one thread
 * 1.1-1.35x on the 32x32x96 stride-2 and 16x16x144 layers; two threads share the memory's
 * bandwidth and gain nothing measurable. (The weight gradient's row passes, fetched the same
 * way, ran slower: not there.) */
#define DW3_PF_ROWS(xs, oh)                                                                 \
    const float *pf_[2] = {NULL, NULL};                                                     \
    int npf_ = 0;                                                                           \
    for (int j_ = 0; j_ < S && j_ < 2; j_++) {                                              \
        int ih_ = (oh) * S - s->pad + 3 + j_;                                               \
        if (ih_ >= 0 && ih_ < s->H) pf_[npf_++] = (xs) + (size_t)ih_ * s->W * C;            \
    }
#define DW3_PF_PIXEL(ow)                                                                    \
    for (int j_ = 0; j_ < npf_; j_++) {                                                     \
        int w1_ = (ow) + 1 == s->OW ? s->W : ((ow) + 1) * S;                                \
        for (int w_ = (ow) * S; w_ < w1_ && w_ < s->W; w_++)                                \
            for (int c_ = 0; c_ < C; c_ += 16) __builtin_prefetch(pf_[j_] + (size_t)w_ * C + c_); \
    }

/* One pixel's channel blocks [cb0, cb1) from a tap list: out = INIT(c0), then += src[j] * wsrc[j]
 * for the nt taps in their (kh, kw) order, each block as the single-block kernels sum it (the same
 * bits). Four blocks at a time: four independent sums in flight, where one block's chain of nine
 * dependent adds leaves the adder idle (MobileNetV2's 4x4 and 2x2 layers, whose pixels are nearly
 * all at a border, ran at a quarter of the adder's rate). */
#define DW3_LIST_QUAD(j_, c_, a0, a1, a2, a3)                                               \
    {                                                                                       \
        const float *p_ = src[j_] + (c_), *q_ = wsrc[j_] + (c_);                            \
        a0 += RP_LDV(p_) * RP_LDV(q_);                                                      \
        a1 += RP_LDV(p_ + RP_VL) * RP_LDV(q_ + RP_VL);                                      \
        a2 += RP_LDV(p_ + 2 * RP_VL) * RP_LDV(q_ + 2 * RP_VL);                              \
        a3 += RP_LDV(p_ + 3 * RP_VL) * RP_LDV(q_ + 3 * RP_VL);                              \
    }
#define DW3_LIST_PIXEL(out, INIT, nt, cb0, cb1)                                             \
    {                                                                                       \
        int c0 = (cb0);                                                                     \
        for (; c0 + 4 * RP_VL <= (cb1); c0 += 4 * RP_VL) {                                  \
            rp_vec a0 = INIT(c0), a1 = INIT(c0 + RP_VL), a2 = INIT(c0 + 2 * RP_VL);         \
            rp_vec a3 = INIT(c0 + 3 * RP_VL);                                               \
            for (int j = 0; j < (nt); j++) DW3_LIST_QUAD(j, c0, a0, a1, a2, a3)             \
            RP_STV((out) + c0, a0);                                                         \
            RP_STV((out) + c0 + RP_VL, a1);                                                 \
            RP_STV((out) + c0 + 2 * RP_VL, a2);                                             \
            RP_STV((out) + c0 + 3 * RP_VL, a3);                                             \
        }                                                                                   \
        for (; c0 + 2 * RP_VL <= (cb1); c0 += 2 * RP_VL) {                                  \
            rp_vec a0 = INIT(c0), a1 = INIT(c0 + RP_VL);                                    \
            for (int j = 0; j < (nt); j++) {                                                \
                const float *p_ = src[j] + c0, *q_ = wsrc[j] + c0;                          \
                a0 += RP_LDV(p_) * RP_LDV(q_);                                              \
                a1 += RP_LDV(p_ + RP_VL) * RP_LDV(q_ + RP_VL);                              \
            }                                                                               \
            RP_STV((out) + c0, a0);                                                         \
            RP_STV((out) + c0 + RP_VL, a1);                                                 \
        }                                                                                   \
        for (; c0 < (cb1); c0 += RP_VL) {                                                   \
            rp_vec a0 = INIT(c0);                                                           \
            for (int j = 0; j < (nt); j++) a0 += RP_LDV(src[j] + c0) * RP_LDV(wsrc[j] + c0); \
            RP_STV((out) + c0, a0);                                                         \
        }                                                                                   \
    }

/* The same pixel by pixel, every channel block of a pixel before the next pixel, the weights
 * read from L1: the row's input is then read in order. For wide layers (C >= DW_PIXEL_MAJOR)
 * the channel blocks' passes over a row, each touching one line in C / 16, run far below
 * memory speed when the row is not in cache (2x on MobileNetV2's 32x32x96 and 16x16x144
 * layers); with 32 channels the weights in registers win. Same operations, same order. */
#define DW_PIXEL_MAJOR 64
#define DW3_FWD_INIT(c) (b ? RP_LDV(b + (c)) : zero_)
#define dw3_fwd_row_pm_BODY                                                                 \
    DW3_FWD_ROWS                                                                            \
    DW3_PF_ROWS(xb, oh)                                                                     \
    const rp_vec zero_ = {0};                                                               \
    for (int ow = 0; ow < s->OW; ow++) {                                                    \
        DW3_PF_PIXEL(ow)                                                                    \
        int iw0 = ow * S - s->pad, nt = 0;                                                  \
        const float *src[9], *wsrc[9];                                                      \
        for (int kh = 0; kh < 3; kh++)                                                      \
            for (int kw = 0; kw < 3 && rv[kh]; kw++)                                        \
                if (iw0 + kw >= 0 && iw0 + kw < s->W) {                                     \
                    src[nt] = r[kh] + (size_t)(iw0 + kw) * C;                               \
                    wsrc[nt++] = wt + (size_t)(kh * 3 + kw) * C;                            \
                }                                                                           \
        DW3_LIST_PIXEL(y + (size_t)ow * C, DW3_FWD_INIT, nt, 0, C)                          \
    }
RP_SIMD_VARIANTS(dw3_fwd_row_pm, (float *restrict y, const float *restrict xb, const float *restrict wt,
                                  const float *b, const conv2d_shape *s, int oh))

/* Input row (b, ih): dx += dy * w gathered over the taps in (kh, kw) order (!acc: from 0,
 * as adding into a zeroed row). Channel blocks keep their sum in a register. */
#define dw_dx_row_BODY                                                                      \
    const int K = s->K, C = s->C;                                                           \
    if (!acc && C % CB) memset(dxr, 0, (size_t)s->W * C * sizeof *dxr);                     \
    for (int iw = 0; iw < s->W; iw++) {                                                     \
        float *d = dxr + (size_t)iw * C;                                                    \
        int nt = 0, tap[49];                                                                \
        size_t go[49];                                                                      \
        for (int kh = 0; kh < K; kh++) {                                                    \
            int th = ih + s->pad - kh;                                                      \
            if (th < 0 || th % s->stride || th / s->stride >= s->OH) continue;              \
            for (int kw = 0; kw < K; kw++) {                                                \
                int tw = iw + s->pad - kw;                                                  \
                if (tw < 0 || tw % s->stride || tw / s->stride >= s->OW) continue;          \
                tap[nt] = kh * K + kw;                                                      \
                go[nt++] = ((size_t)(th / s->stride) * s->OW + tw / s->stride) * C;         \
            }                                                                               \
        }                                                                                   \
        if (C % CB == 0) {                                                                  \
            for (int c0 = 0; c0 < C; c0 += RP_VL) {                                         \
                rp_vec a = {0};                                                             \
                if (acc) a = RP_LDV(d + c0);                                                \
                for (int j = 0; j < nt; j++)                                                \
                    a += RP_LDV(dyb + go[j] + c0) * RP_LDV(wt + (size_t)tap[j] * C + c0);   \
                RP_STV(d + c0, a);                                                          \
            }                                                                               \
            continue;                                                                       \
        }                                                                                   \
        for (int j = 0; j < nt; j++) {                                                      \
            const float *g = dyb + go[j], *wr = wt + (size_t)tap[j] * C;                    \
            _Pragma("omp simd") for (int c = 0; c < C; c++) d[c] += g[c] * wr[c];           \
        }                                                                                   \
    }
RP_SIMD_VARIANTS(dw_dx_row, (float *restrict dxr, const float *restrict dyb, const float *restrict wt,
                             const conv2d_shape *s, int ih, bool acc))

/* The same for K = 3 and C % CB == 0, channel blocks [cb0, cb1): per channel block the 9
 * weight vectors stay in registers, no tap lists; interior pixels of a stride-1 conv skip the tests. Same taps in the
 * same (kh, kw) order, so the same bits. */
/* Up to four input pixels n <= 4 from iw whose taps are not all inside the gradient's row (a
 * border, a stride-2 conv, a row narrower than a quad): each pixel adds the taps that reach it, in
 * (kh, kw) order, as one pixel alone would (the same bits); the four sums overlap. SS: the stride,
 * a literal where it is 1 or 2 (no division in the loop). */
#define DW3_DX_M1(a, tw, SS)                                                                \
    if ((tw) >= 0 && (tw) % (SS) == 0 && (tw) / (SS) < s->OW) a += RP_LDV(q + (size_t)((tw) / (SS)) * C) * wk;
#define DW3_DX_MASKED(SS, n)                                                                \
    {                                                                                       \
        float *d = dxr + (size_t)iw * C + c0;                                               \
        rp_vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                                      \
        if (acc) {                                                                          \
            a0 = RP_LDV(d);                                                                 \
            if (n > 1) a1 = RP_LDV(d + C);                                                  \
            if (n > 2) a2 = RP_LDV(d + 2 * C);                                              \
            if (n > 3) a3 = RP_LDV(d + 3 * C);                                              \
        }                                                                                   \
        for (int kh = 0; kh < 3; kh++) {                                                    \
            if (!rv[kh]) continue;                                                          \
            const float *q = r[kh] + c0;                                                    \
            for (int kw = 0; kw < 3; kw++) {                                                \
                rp_vec wk = wv[kh * 3 + kw];                                                \
                int t0 = iw + P - kw;                                                       \
                DW3_DX_M1(a0, t0, SS)                                                       \
                if (n > 1) DW3_DX_M1(a1, t0 + 1, SS)                                        \
                if (n > 2) DW3_DX_M1(a2, t0 + 2, SS)                                        \
                if (n > 3) DW3_DX_M1(a3, t0 + 3, SS)                                        \
            }                                                                               \
        }                                                                                   \
        RP_STV(d, a0);                                                                      \
        if (n > 1) RP_STV(d + C, a1);                                                       \
        if (n > 2) RP_STV(d + 2 * C, a2);                                                   \
        if (n > 3) RP_STV(d + 3 * C, a3);                                                   \
    }
#define DW3_DX_ROWS                                                                         \
    const int C = s->C, S = s->stride, P = s->pad;                                          \
    const float *r[3];                                                                      \
    bool rv[3];                                                                             \
    for (int kh = 0; kh < 3; kh++) {                                                        \
        int th = ih + P - kh;                                                               \
        rv[kh] = th >= 0 && th % S == 0 && th / S < s->OH;                                  \
        r[kh] = dyb + (size_t)(rv[kh] ? th / S : 0) * s->OW * C;                            \
    }
/* Four input pixels iw..iw+3 of a stride-1 conv whose taps all lie inside the gradient's row
 * (DW3_DX_QUAD_FITS): each pixel's sum in the single pixel's order, the four interleaved (four
 * independent chains in flight: one pixel's chain of nine dependent adds leaves the adder idle,
 * as in the forward's DW3_TAPS4). */
#define DW3_DX_QUAD_FITS (S == 1 && iw + P - 2 >= 0 && iw + 3 + P < s->OW)
#define DW3_DX_QUAD                                                                         \
    {                                                                                       \
        float *d = dxr + (size_t)iw * C + c0;                                               \
        rp_vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                                      \
        if (acc) a0 = RP_LDV(d), a1 = RP_LDV(d + C), a2 = RP_LDV(d + 2 * C), a3 = RP_LDV(d + 3 * C); \
        for (int kh = 0; kh < 3; kh++) {                                                    \
            if (!rv[kh]) continue;                                                          \
            const float *p = r[kh] + (size_t)(iw + P) * C + c0;                             \
            for (int kw = 0; kw < 3; kw++, p -= C) {                                        \
                rp_vec wk = wv[kh * 3 + kw];                                                \
                a0 += RP_LDV(p) * wk;                                                       \
                a1 += RP_LDV(p + C) * wk;                                                   \
                a2 += RP_LDV(p + 2 * C) * wk;                                               \
                a3 += RP_LDV(p + 3 * C) * wk;                                               \
            }                                                                               \
        }                                                                                   \
        RP_STV(d, a0);                                                                      \
        RP_STV(d + C, a1);                                                                  \
        RP_STV(d + 2 * C, a2);                                                              \
        RP_STV(d + 3 * C, a3);                                                              \
    }
#define dw3_dx_row_BODY                                                                     \
    DW3_DX_ROWS                                                                             \
    for (int c0 = cb0; c0 < cb1; c0 += RP_VL) {                                             \
        rp_vec wv[9];                                                                       \
        for (int t = 0; t < 9; t++) wv[t] = RP_LDV(wt + (size_t)t * C + c0);                \
        for (int iw = 0; iw < s->W;) {                                                      \
            if (iw + 4 <= s->W && DW3_DX_QUAD_FITS) {                                       \
                DW3_DX_QUAD                                                                 \
                iw += 4;                                                                    \
                continue;                                                                   \
            }                                                                               \
            int n = s->W - iw < 4 ? s->W - iw : 4;                                          \
            if (S == 1) DW3_DX_MASKED(1, n)                                                 \
            else if (S == 2) DW3_DX_MASKED(2, n)                                            \
            else DW3_DX_MASKED(S, n)                                                        \
            iw += n;                                                                        \
        }                                                                                   \
    }
RP_SIMD_VARIANTS(dw3_dx_row, (float *restrict dxr, const float *restrict dyb, const float *restrict wt,
                              const conv2d_shape *s, int ih, bool acc, int cb0, int cb1))

/* The same pixel by pixel, the weights from L1 (as dw3_fwd_row_pm): for wide layers whose
 * gradient comes from memory. Same operations, same order. */
#define DW3_DX_INIT(c) (acc ? RP_LDV(d + (c)) : zero_)
#define dw3_dx_row_pm_BODY                                                                  \
    DW3_DX_ROWS                                                                             \
    const rp_vec zero_ = {0};                                                               \
    for (int iw = 0; iw < s->W; iw++) {                                                     \
        float *d = dxr + (size_t)iw * C;                                                    \
        const float *src[9], *wsrc[9];                                                      \
        int nt = 0;                                                                         \
        for (int kh = 0; kh < 3; kh++)                                                      \
            for (int kw = 0; kw < 3 && rv[kh]; kw++) {                                      \
                int tw = iw + P - kw;                                                       \
                if (tw >= 0 && tw % S == 0 && tw / S < s->OW) {                             \
                    src[nt] = r[kh] + (size_t)(tw / S) * C;                                 \
                    wsrc[nt++] = wt + (size_t)(kh * 3 + kw) * C;                            \
                }                                                                           \
            }                                                                               \
        DW3_LIST_PIXEL(d, DW3_DX_INIT, nt, cb0, cb1)                                        \
    }
RP_SIMD_VARIANTS(dw3_dx_row_pm, (float *restrict dxr, const float *restrict dyb, const float *restrict wt,
                                 const conv2d_shape *s, int ih, bool acc, int cb0, int cb1))

/* acc (K*K, ld), channels [c0, c1) of dw's taps over output rows [r0, r1) (dy: row r0's
 * gradient): for each output pixel (b, oh, ow) in order,
 * each tap adds dy * x over the channel range into acc's rows (which stay in L1). Reading
 * every pixel's channel range contiguously is far kinder to memory than 16-channel blocks
 * strided by C (2-5x on MobileNetV2's layers); every (tap, channel) sums the pixels in order,
 * as the reference does. acc is zeroed first; each thread has its own (no shared lines). */
#define dw_dw_range_BODY                                                                    \
    const int K = s->K, C = s->C, cn = c1 - c0;                                             \
    for (int t = 0; t < K * K; t++)                                                         \
        for (int c = 0; c < cn; c++) acc[(size_t)t * ld + c] = 0.0f;                        \
    for (int r = r0; r < r1; r++) {                                                         \
        int bi = r / s->OH, oh = r % s->OH;                                                 \
        const float *xb = x + (size_t)bi * s->H * s->W * C + c0;                            \
        for (int ow = 0; ow < s->OW; ow++) {                                                \
            const float *g = dy + ((size_t)(r - r0) * s->OW + ow) * C + c0;                 \
            for (int kh = 0; kh < K; kh++) {                                                \
                int ih = oh * s->stride - s->pad + kh;                                      \
                if (ih < 0 || ih >= s->H) continue;                                         \
                for (int kw = 0; kw < K; kw++) {                                            \
                    int iw = ow * s->stride - s->pad + kw;                                  \
                    if (iw < 0 || iw >= s->W) continue;                                     \
                    const float *xr = xb + ((size_t)ih * s->W + iw) * C;                    \
                    float *a = acc + (size_t)(kh * K + kw) * ld;                            \
                    _Pragma("omp simd") for (int c = 0; c < cn; c++) a[c] += g[c] * xr[c];  \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }
RP_SIMD_VARIANTS(dw_dw_range, (float *restrict acc, int ld, const float *restrict dy, const float *restrict x,
                                const conv2d_shape *s, int c0, int c1, int r0, int r1))

/* The same for K = 3 and a channel range of whole blocks [cb0, cb1), over output rows [r0, r1)
 * (dy: row r0's gradient; zero: acc zeroed first, else the sums go on, so consecutive row
 * ranges give one call's bits): for each output row, each block's
 * 9 tap sums come into vector registers, take the row's pixels (interior ones without
 * tests), and go back to acc (the rows of x it reads stay in cache across the blocks).
 * Every (tap, channel) still sums the pixels in order: the same bits. */
/* Up to three channel blocks at a time (DW3_GROUP, on AVX-512; one block of a register's width
 * on AVX2 and SSE2, whose 16 registers hold 9 sums): tap t of block b sums into the named vector
 * a<t>_<b> (named, not an array: GCC keeps an array of vectors on the stack, a load and a store
 * around every add); 27 sums stay in registers while a row's pixels pass, and each pass over a
 * row reads 48 contiguous channels of every pixel, not 16 of C (a stride the hardware
 * prefetchers follow poorly when the row comes from memory). NB is a literal (1, 2 or 3). */
#define DW3_GROUP 3
#define DW3_DW_DECL(b)                                                                      \
    rp_vec a0_##b = zero_, a1_##b = zero_, a2_##b = zero_, a3_##b = zero_, a4_##b = zero_;  \
    rp_vec a5_##b = zero_, a6_##b = zero_, a7_##b = zero_, a8_##b = zero_;                  \
    if (NB > b) {                                                                           \
        a0_##b = RP_LDV(ac + 0 * (size_t)ld + RP_VL * b);                                   \
        a1_##b = RP_LDV(ac + 1 * (size_t)ld + RP_VL * b);                                   \
        a2_##b = RP_LDV(ac + 2 * (size_t)ld + RP_VL * b);                                   \
        a3_##b = RP_LDV(ac + 3 * (size_t)ld + RP_VL * b);                                   \
        a4_##b = RP_LDV(ac + 4 * (size_t)ld + RP_VL * b);                                   \
        a5_##b = RP_LDV(ac + 5 * (size_t)ld + RP_VL * b);                                   \
        a6_##b = RP_LDV(ac + 6 * (size_t)ld + RP_VL * b);                                   \
        a7_##b = RP_LDV(ac + 7 * (size_t)ld + RP_VL * b);                                   \
        a8_##b = RP_LDV(ac + 8 * (size_t)ld + RP_VL * b);                                   \
    }
#define DW3_DW_STORE(b)                                                                     \
    if (NB > b) RP_STV(ac + 0 * (size_t)ld + RP_VL * b, a0_##b);                            \
    if (NB > b) RP_STV(ac + 1 * (size_t)ld + RP_VL * b, a1_##b);                            \
    if (NB > b) RP_STV(ac + 2 * (size_t)ld + RP_VL * b, a2_##b);                            \
    if (NB > b) RP_STV(ac + 3 * (size_t)ld + RP_VL * b, a3_##b);                            \
    if (NB > b) RP_STV(ac + 4 * (size_t)ld + RP_VL * b, a4_##b);                            \
    if (NB > b) RP_STV(ac + 5 * (size_t)ld + RP_VL * b, a5_##b);                            \
    if (NB > b) RP_STV(ac + 6 * (size_t)ld + RP_VL * b, a6_##b);                            \
    if (NB > b) RP_STV(ac + 7 * (size_t)ld + RP_VL * b, a7_##b);                            \
    if (NB > b) RP_STV(ac + 8 * (size_t)ld + RP_VL * b, a8_##b);
#define DW3_DW_UPD(t, p)                                                                    \
    a##t##_0 += g0 * RP_LDV(p);                                                             \
    if (NB > 1) a##t##_1 += g1 * RP_LDV((p) + RP_VL);                                       \
    if (NB > 2) a##t##_2 += g2 * RP_LDV((p) + 2 * RP_VL);
#define DW3_DW_TAP(t, kh, kw)                                                               \
    {                                                                                       \
        int ih = ih0 + (kh), iw = iw0 + (kw);                                               \
        if (ih >= 0 && ih < s->H && iw >= 0 && iw < s->W) {                                 \
            const float *p_ = xb + ((size_t)ih * s->W + iw) * C;                            \
            DW3_DW_UPD(t, p_)                                                               \
        }                                                                                   \
    }
#define DW3_DW_GROUP_PASS(NB)                                                               \
    {                                                                                       \
        const float *xb = x + (size_t)bi * s->H * s->W * C + c0;                            \
        float *ac = acc + (c0 - cb0);                                                       \
        const rp_vec zero_ = {0};                                                           \
        DW3_DW_DECL(0) DW3_DW_DECL(1) DW3_DW_DECL(2)                                        \
        for (int ow = 0; ow < s->OW; ow++) {                                                \
            const float *gp = dy + ((size_t)(r - r0) * s->OW + ow) * C + c0;                \
            rp_vec g0 = RP_LDV(gp), g1 = g0, g2 = g0;                                       \
            if (NB > 1) g1 = RP_LDV(gp + RP_VL);                                            \
            if (NB > 2) g2 = RP_LDV(gp + 2 * RP_VL);                                        \
            int iw0 = ow * S - P;                                                           \
            if (rows_in && iw0 >= 0 && iw0 + 2 < s->W) {                                    \
                const float *q = xb + ((size_t)ih0 * s->W + iw0) * C;                       \
                const size_t rs = (size_t)s->W * C;                                         \
                DW3_DW_UPD(0, q) DW3_DW_UPD(1, q + C) DW3_DW_UPD(2, q + 2 * C)              \
                DW3_DW_UPD(3, q + rs) DW3_DW_UPD(4, q + rs + C) DW3_DW_UPD(5, q + rs + 2 * C) \
                DW3_DW_UPD(6, q + 2 * rs) DW3_DW_UPD(7, q + 2 * rs + C) DW3_DW_UPD(8, q + 2 * rs + 2 * C) \
                continue;                                                                   \
            }                                                                               \
            DW3_DW_TAP(0, 0, 0) DW3_DW_TAP(1, 0, 1) DW3_DW_TAP(2, 0, 2)                     \
            DW3_DW_TAP(3, 1, 0) DW3_DW_TAP(4, 1, 1) DW3_DW_TAP(5, 1, 2)                     \
            DW3_DW_TAP(6, 2, 0) DW3_DW_TAP(7, 2, 1) DW3_DW_TAP(8, 2, 2)                     \
        }                                                                                   \
        DW3_DW_STORE(0) DW3_DW_STORE(1) DW3_DW_STORE(2)                                     \
    }
#define dw3_dw_range_BODY                                                                   \
    const int C = s->C, S = s->stride, P = s->pad;                                          \
    enum { DWG = RP_VL == 16 ? DW3_GROUP : 1 }; /* 27 sums fit AVX-512's 32 registers */    \
    if (zero)                                                                               \
        for (int t = 0; t < 9; t++) memset(acc + (size_t)t * ld, 0, (size_t)(cb1 - cb0) * sizeof *acc); \
    for (int r = r0; r < r1; r++) {                                                         \
        int bi = r / s->OH, oh = r % s->OH, ih0 = oh * S - P;                               \
        bool rows_in = ih0 >= 0 && ih0 + 2 < s->H;                                          \
        for (int c0 = cb0; c0 < cb1; c0 += DWG * RP_VL) {                                   \
            int nb = (cb1 - c0) / RP_VL < DWG ? (cb1 - c0) / RP_VL : DWG;                   \
            if (nb == 3) {                                                                  \
                enum { NB = 3 };                                                            \
                DW3_DW_GROUP_PASS(NB)                                                       \
            } else if (nb == 2) {                                                           \
                enum { NB = 2 };                                                            \
                DW3_DW_GROUP_PASS(NB)                                                       \
            } else {                                                                        \
                enum { NB = 1 };                                                            \
                DW3_DW_GROUP_PASS(NB)                                                       \
            }                                                                               \
        }                                                                                   \
    }
RP_SIMD_VARIANTS(dw3_dw_range, (float *restrict acc, int ld, const float *restrict dy, const float *restrict x,
                                const conv2d_shape *s, int cb0, int cb1, int r0, int r1, bool zero))

void dwconv2d_fast_weights(float *wt, const float *w, const conv2d_shape *s)
{
    const int C = s->C, KK = s->K * s->K;
    for (int c = 0; c < C; c++)
        for (int t = 0; t < KK; t++) wt[(size_t)t * C + c] = w[(size_t)c * KK + t];
}

/* The row kernels: any K and C (dw_*_row); K = 3 with whole channel blocks, weights in
 * registers (dw3_*_row); the same read pixel by pixel (dw3_*_row_pm) for wide layers whose input
 * comes from memory (pixel_major) — a chain's tiles, in cache, are faster with the weights in
 * registers. */
enum { ROW_ANY, ROW_REG, ROW_PM };
static int row_kernel(const conv2d_shape *s, bool pixel_major)
{
    if (s->K != 3 || s->C % CB) return ROW_ANY;
    return pixel_major && s->C >= DW_PIXEL_MAJOR ? ROW_PM : ROW_REG;
}

/* Rows [r0, r1) of the output. */
static void fwd_rows(float *y, const float *x, const float *wt, const float *b, const conv2d_shape *s, int r0,
                     int r1, const conv_bn *bn, act_kind act, bool pixel_major)
{
    rp_simd simd = rp_simd_level();
    const int kernel = row_kernel(s, pixel_major);
    for (int r = r0; r < r1; r++) {
        int bi = r / s->OH, oh = r % s->OH;
        float *yr = y + (size_t)r * s->OW * s->C;
        const float *xb = x + (size_t)bi * s->H * s->W * s->C;
        if (kernel == ROW_PM) RP_SIMD_CALL(simd, dw3_fwd_row_pm, (yr, xb, wt, b, s, oh));
        else if (kernel == ROW_REG) RP_SIMD_CALL(simd, dw3_fwd_row, (yr, xb, wt, b, s, oh));
        else RP_SIMD_CALL(simd, dw_fwd_row, (yr, xb, wt, b, s, oh));
        conv2d_epilogue(yr, (size_t)s->OW, s->C, bn, act);
    }
}

void dwconv2d_fast_rows(float *y, const float *x, const float *wt, const float *b, const conv2d_shape *s,
                        int r0, int r1, const conv_bn *bn, act_kind act)
{
    fwd_rows(y, x, wt, b, s, r0, r1, bn, act, false);
}

/* The whole-batch forward's rows: the input comes from memory. */
static void rows_from_memory(float *y, const float *x, const float *wt, const float *b, const conv2d_shape *s,
                             int r0, int r1, const conv_bn *bn, act_kind act)
{
    fwd_rows(y, x, wt, b, s, r0, r1, bn, act, true);
}

static void dx_rows(float *dx, const float *dy, const float *wt, const conv2d_shape *s, int r0, int r1, bool acc,
                    bool pixel_major)
{
    rp_simd simd = rp_simd_level();
    const int kernel = row_kernel(s, pixel_major);
    for (int r = r0; r < r1; r++) {
        int bi = r / s->H, ih = r % s->H;
        float *dxr = dx + (size_t)r * s->W * s->C;
        const float *dyb = dy + (size_t)bi * s->OH * s->OW * s->C;
        if (kernel == ROW_PM) RP_SIMD_CALL(simd, dw3_dx_row_pm, (dxr, dyb, wt, s, ih, acc, 0, s->C));
        else if (kernel == ROW_REG) RP_SIMD_CALL(simd, dw3_dx_row, (dxr, dyb, wt, s, ih, acc, 0, s->C));
        else RP_SIMD_CALL(simd, dw_dx_row, (dxr, dyb, wt, s, ih, acc));
    }
}

void dwconv2d_fast_dx_rows(float *dx, const float *dy, const float *wt, const conv2d_shape *s, int r0, int r1,
                           bool acc)
{
    dx_rows(dx, dy, wt, s, r0, r1, acc, false);
}

void dwconv2d_fast_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s,
                           float *scratch, const conv_epilogue *e)
{
    RP_ASSERT(dwconv2d_fast_applies(s));
    dwconv2d_fast_weights(scratch, w, s);
    conv2d_rows_forward(rows_from_memory, y, x, scratch, b, s, e);
}

/* The weight gradient's chunk sums (conv2d.h: dw_chunks): chunk k's tap t, channel c at
 * [(k * K*K + t) * ld + c], ld = C rounded up to 16, from the first 64-byte boundary after the
 * transposed weights in scratch. */
static int chunk_ld(const conv2d_shape *s) { return (s->C + 15) & ~15; }
static float *chunk_sums_base(float *scratch, const conv2d_shape *s)
{
    float *base = scratch + (size_t)s->K * s->K * s->C;
    return base + (16 - ((uintptr_t)base / sizeof *base) % 16) % 16;
}

/* dw (C, K*K) += the chunks' sums added in chunk order from 0 (as the reference). */
static void add_chunk_sums(float *dw, const float *part, const conv2d_shape *s)
{
    const int KK = s->K * s->K, C = s->C, ld = chunk_ld(s), chunks = dw_chunks(s->B);
#pragma omp parallel for schedule(static) if ((size_t)C * KK * chunks > 65536)
    for (int c = 0; c < C; c++)
        for (int t = 0; t < KK; t++) {
            float tot = 0.0f;
            for (int k = 0; k < chunks; k++) tot += part[((size_t)k * KK + t) * ld + c];
            dw[(size_t)c * KK + t] += tot;
        }
}

void dwconv2d_fast_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, const conv2d_shape *s, float *scratch, bool acc)
{
    RP_ASSERT(dwconv2d_fast_applies(s));
    const int KK = s->K * s->K, C = s->C;
    rp_simd simd = rp_simd_level();
    if (db) conv2d_bias_grad(db, dy, (size_t)s->B * s->OH * s->OW, C);
    if (dx) {
        dwconv2d_fast_weights(scratch, w, s);
#pragma omp parallel for schedule(static)
        for (int r = 0; r < s->B * s->H; r++) dx_rows(dx, dy, scratch, s, r, r + 1, acc, true);
    }
    if (!dw) return;
    float *part = chunk_sums_base(scratch, s);
    const int chunks = dw_chunks(s->B), blocks = (C + CB - 1) / CB, threads = omp_get_max_threads();
    int parts = chunks >= threads ? 1 : (threads + chunks - 1) / chunks; /* channel ranges per chunk */
    if (parts > blocks) parts = blocks;
    const bool reg = row_kernel(s, false) == ROW_REG;
    const int ld = chunk_ld(s);
#pragma omp parallel for schedule(static)
    for (int task = 0; task < chunks * parts; task++) {
        int k = task / parts, j = task % parts, r0 = s->B * k / chunks * s->OH, r1 = s->B * (k + 1) / chunks * s->OH;
        int c0 = blocks * j / parts * CB, c1 = blocks * (j + 1) / parts * CB < C ? blocks * (j + 1) / parts * CB : C;
        float *sums = part + (size_t)k * KK * ld + c0;
        const float *g = dy + (size_t)r0 * s->OW * C;
        if (reg) RP_SIMD_CALL(simd, dw3_dw_range, (sums, ld, g, x, s, c0, c1, r0, r1, true));
        else RP_SIMD_CALL(simd, dw_dw_range, (sums, ld, g, x, s, c0, c1, r0, r1));
    }
    add_chunk_sums(dw, part, s);
}

/* The batch norm (and its ReLU/ReLU6) after the conv, done with the conv's backward ---------- */

/* What the kernel can do (the tile sizes are where it pays: dwconv2d_fast_bn_applies). */
static bool bn_capable(const conv2d_shape *s) { return dwconv2d_fast_applies(s) && s->K == 3 && s->C % CB == 0; }

bool dwconv2d_fast_bn_applies(const conv2d_shape *s)
{
    return bn_capable(s) && (size_t)s->OH * s->OW * s->C <= DW_BN_TILE_MAX;
}

/* Threads that take the chunks of samples, each with its own sample tile. */
static int bn_team(const conv2d_shape *s, int threads) { return threads < dw_chunks(s->B) ? threads : dw_chunks(s->B); }

size_t dwconv2d_fast_bn_scratch_floats(const conv2d_shape *s, int threads)
{
    size_t KK = (size_t)s->K * s->K, tile = (size_t)s->OH * s->OW * s->C;
    return KK * s->C + 16 + (size_t)dw_chunks(s->B) * KK * chunk_ld(s) + (size_t)bn_team(s, threads) * tile;
}

void dwconv2d_fast_backward_bn(float *dx, float *dw, const dw_bn_grad *g, const float *x, const float *w,
                               const conv2d_shape *s, float *scratch, int threads, bool acc)
{
    RP_ASSERT(bn_capable(s) && (dx || dw));
    const int KK = 9, C = s->C, ld = chunk_ld(s), chunks = dw_chunks(s->B);
    const size_t P = (size_t)s->OH * s->OW, RB = act_mask_row_bytes(C);
    const bool pm = row_kernel(s, true) == ROW_PM;
    rp_simd simd = rp_simd_level();
    dwconv2d_fast_weights(scratch, w, s);
    float *part = chunk_sums_base(scratch, s), *tiles = part + (size_t)chunks * KK * ld;
#pragma omp parallel num_threads(bn_team(s, threads))
    {
        float *tile = tiles + (size_t)omp_get_thread_num() * P * C;
#pragma omp for schedule(static)
        for (int k = 0; k < chunks; k++)
            for (int b = s->B * k / chunks; b < s->B * (k + 1) / chunks; b++) {
                size_t at = (size_t)b * P * C;
                batchnorm_dx_bits_tile(tile, g->g + at, g->bits + (size_t)b * P * RB, g->y + at, g->mean, g->k, P, C,
                                       0, C);
                for (int ih = 0; dx && ih < s->H; ih++) { /* dx's rows go to memory: wide ones pixel by pixel */
                    float *dxr = dx + ((size_t)b * s->H + ih) * s->W * C;
                    if (pm) RP_SIMD_CALL(simd, dw3_dx_row_pm, (dxr, tile, scratch, s, ih, acc, 0, C));
                    else RP_SIMD_CALL(simd, dw3_dx_row, (dxr, tile, scratch, s, ih, acc, 0, C));
                }
                if (dw)
                    RP_SIMD_CALL(simd, dw3_dw_range, (part + (size_t)k * KK * ld, ld, tile, x, s, 0, C, b * s->OH,
                                                      (b + 1) * s->OH, b == s->B * k / chunks));
            }
    }
    if (dw) add_chunk_sums(dw, part, s);
}
