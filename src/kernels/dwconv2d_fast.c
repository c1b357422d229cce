/* Depthwise conv2d (groups == C == OC), SIMD versions of the reference kernels in conv2d.c:
 * every output or gradient element gets the same float operations in the same order as
 * there (bias first, then taps in (kh, kw) order; weight gradients summed over the output
 * pixels (b, oh, ow) in order), so results are bit-identical. Channels run in blocks of 16
 * whose accumulators stay in vector registers. */
#include <stddef.h>
#include <string.h>

#include "core/status.h"
#include "kernels/activation.h"
#include "kernels/conv2d.h"
#include "kernels/simd.h"

#define CB 16             /* channels per block */
#define RP_DW_MAX_TAPS 25 /* K*K of the register-blocked weight gradient (5x5) */

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
 * stay in registers, interior pixels skip the bounds tests. Same operations, same order. */
#define dw3_fwd_row_BODY                                                                    \
    const int C = s->C, S = s->stride;                                                      \
    const float *r[3];                                                                      \
    bool rv[3];                                                                             \
    for (int kh = 0; kh < 3; kh++) {                                                        \
        int ih = oh * S - s->pad + kh;                                                      \
        rv[kh] = ih >= 0 && ih < s->H;                                                      \
        r[kh] = xb + (size_t)(rv[kh] ? ih : 0) * s->W * C;                                  \
    }                                                                                       \
    for (int c0 = 0; c0 < C; c0 += CB) {                                                    \
        rp_v16 wv[9], bv = {0};                                                             \
        for (int t = 0; t < 9; t++) wv[t] = RP_LD16(wt + (size_t)t * C + c0);               \
        if (b) bv = RP_LD16(b + c0);                                                        \
        for (int ow = 0; ow < s->OW; ow++) {                                                \
            int iw0 = ow * S - s->pad;                                                      \
            rp_v16 acc = bv;                                                                \
            if (iw0 >= 0 && iw0 + 2 < s->W) {                                               \
                for (int kh = 0; kh < 3; kh++) {                                            \
                    if (!rv[kh]) continue;                                                  \
                    const float *p = r[kh] + (size_t)iw0 * C + c0;                          \
                    acc += RP_LD16(p) * wv[kh * 3];                                         \
                    acc += RP_LD16(p + C) * wv[kh * 3 + 1];                                 \
                    acc += RP_LD16(p + 2 * C) * wv[kh * 3 + 2];                             \
                }                                                                           \
            } else {                                                                        \
                for (int kh = 0; kh < 3; kh++)                                              \
                    for (int kw = 0; kw < 3 && rv[kh]; kw++) {                              \
                        int iw = iw0 + kw;                                                  \
                        if (iw >= 0 && iw < s->W)                                           \
                            acc += RP_LD16(r[kh] + (size_t)iw * C + c0) * wv[kh * 3 + kw];  \
                    }                                                                       \
            }                                                                               \
            RP_ST16(y + (size_t)ow * C + c0, acc);                                          \
        }                                                                                   \
    }
RP_SIMD_VARIANTS(dw3_fwd_row, (float *restrict y, const float *restrict xb, const float *restrict wt,
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
            for (int c0 = 0; c0 < C; c0 += CB) {                                            \
                rp_v16 a = {0};                                                             \
                if (acc) a = RP_LD16(d + c0);                                               \
                for (int j = 0; j < nt; j++)                                                \
                    a += RP_LD16(dyb + go[j] + c0) * RP_LD16(wt + (size_t)tap[j] * C + c0); \
                RP_ST16(d + c0, a);                                                         \
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

/* dwt (K*K, C), channels [c0, c0 + CB): sums over every output pixel (b, oh, ow) in order of
 * dy * x at each tap. One pass over dy and x for all taps. */
#define dw_dw_block_BODY                                                                    \
    const int K = s->K, C = s->C;                                                           \
    float acc[RP_DW_MAX_TAPS * CB];                                                         \
    for (int i = 0; i < K * K * CB; i++) acc[i] = 0.0f;                                     \
    for (int r = 0; r < s->B * s->OH; r++) {                                                \
        int bi = r / s->OH, oh = r % s->OH;                                                 \
        const float *xb = x + (size_t)bi * s->H * s->W * C + c0;                            \
        for (int ow = 0; ow < s->OW; ow++) {                                                \
            const float *g = dy + ((size_t)r * s->OW + ow) * C + c0;                        \
            for (int kh = 0; kh < K; kh++) {                                                \
                int ih = oh * s->stride - s->pad + kh;                                      \
                if (ih < 0 || ih >= s->H) continue;                                         \
                for (int kw = 0; kw < K; kw++) {                                            \
                    int iw = ow * s->stride - s->pad + kw;                                  \
                    if (iw < 0 || iw >= s->W) continue;                                     \
                    const float *xr = xb + ((size_t)ih * s->W + iw) * C;                    \
                    float *a = acc + (kh * K + kw) * CB;                                    \
                    _Pragma("omp simd") for (int c = 0; c < CB; c++) a[c] += g[c] * xr[c];  \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
    for (int t = 0; t < K * K; t++)                                                         \
        for (int c = 0; c < CB; c++) dwt[(size_t)t * C + c0 + c] = acc[t * CB + c];
RP_SIMD_VARIANTS(dw_dw_block, (float *restrict dwt, const float *restrict dy, const float *restrict x,
                               const conv2d_shape *s, int c0))

/* The same for K = 3 with the 9 sums in registers (named, so they are not spilled). */
#define DW3_TAP(a, kh, kw) \
    if (rv[kh] && cv[kw]) a += g * RP_LD16(row[kh] + (size_t)(iw0 + kw) * C)
#define dw3_dw_block_BODY                                                                   \
    const int C = s->C, S = s->stride;                                                      \
    rp_v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0}, a8 = {0}; \
    for (int r = 0; r < s->B * s->OH; r++) {                                                \
        int bi = r / s->OH, oh = r % s->OH;                                                 \
        const float *row[3];                                                                \
        bool rv[3];                                                                         \
        for (int kh = 0; kh < 3; kh++) {                                                    \
            int ih = oh * S - s->pad + kh;                                                  \
            rv[kh] = ih >= 0 && ih < s->H;                                                  \
            row[kh] = x + ((size_t)bi * s->H + (rv[kh] ? ih : 0)) * s->W * C + c0;          \
        }                                                                                   \
        for (int ow = 0; ow < s->OW; ow++) {                                                \
            rp_v16 g = RP_LD16(dy + ((size_t)r * s->OW + ow) * C + c0);                     \
            int iw0 = ow * S - s->pad;                                                      \
            bool cv[3] = {iw0 >= 0 && iw0 < s->W, iw0 + 1 >= 0 && iw0 + 1 < s->W,           \
                          iw0 + 2 >= 0 && iw0 + 2 < s->W};                                  \
            DW3_TAP(a0, 0, 0); DW3_TAP(a1, 0, 1); DW3_TAP(a2, 0, 2);                        \
            DW3_TAP(a3, 1, 0); DW3_TAP(a4, 1, 1); DW3_TAP(a5, 1, 2);                        \
            DW3_TAP(a6, 2, 0); DW3_TAP(a7, 2, 1); DW3_TAP(a8, 2, 2);                        \
        }                                                                                   \
    }                                                                                       \
    RP_ST16(dwt + 0 * (size_t)C + c0, a0); RP_ST16(dwt + 1 * (size_t)C + c0, a1);           \
    RP_ST16(dwt + 2 * (size_t)C + c0, a2); RP_ST16(dwt + 3 * (size_t)C + c0, a3);           \
    RP_ST16(dwt + 4 * (size_t)C + c0, a4); RP_ST16(dwt + 5 * (size_t)C + c0, a5);           \
    RP_ST16(dwt + 6 * (size_t)C + c0, a6); RP_ST16(dwt + 7 * (size_t)C + c0, a7);           \
    RP_ST16(dwt + 8 * (size_t)C + c0, a8);
RP_SIMD_VARIANTS(dw3_dw_block, (float *restrict dwt, const float *restrict dy, const float *restrict x,
                                const conv2d_shape *s, int c0))

/* wt (K*K, C) from w (C, K*K). */
static void dw_transpose(float *wt, const float *w, int C, int KK)
{
    for (int c = 0; c < C; c++)
        for (int t = 0; t < KK; t++) wt[(size_t)t * C + c] = w[(size_t)c * KK + t];
}

void dwconv2d_fast_forward(float *y, const float *x, const float *w, const float *b,
                           const conv2d_shape *s, float *scratch, const conv_bn *bn, int act)
{
    RP_ASSERT(dwconv2d_fast_applies(s));
    dw_transpose(scratch, w, s->C, s->K * s->K);
    rp_simd simd = rp_simd_level();
#pragma omp parallel for schedule(static)
    for (int r = 0; r < s->B * s->OH; r++) {
        int bi = r / s->OH, oh = r % s->OH;
        float *yr = y + (size_t)r * s->OW * s->C;
        const float *xb = x + (size_t)bi * s->H * s->W * s->C;
        if (s->K == 3 && s->C % CB == 0) RP_SIMD_CALL(simd, dw3_fwd_row, (yr, xb, scratch, b, s, oh));
        else RP_SIMD_CALL(simd, dw_fwd_row, (yr, xb, scratch, b, s, oh));
        conv2d_epilogue(yr, (size_t)s->OW, s->C, bn, act);
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
        dw_transpose(scratch, w, C, KK);
#pragma omp parallel for schedule(static)
        for (int r = 0; r < s->B * s->H; r++) {
            int bi = r / s->H, ih = r % s->H;
            RP_SIMD_CALL(simd, dw_dx_row, (dx + (size_t)r * s->W * C,
                                           dy + (size_t)bi * s->OH * s->OW * C, scratch, s, ih, acc));
        }
    }
    if (!dw) return;
    float *dwt = scratch + (size_t)KK * C;
    if (KK > RP_DW_MAX_TAPS || C % CB) { /* outside the register-block shapes */
        dwconv2d_backward(NULL, dw, NULL, dy, x, w, s, scratch);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += CB) {
        if (s->K == 3) RP_SIMD_CALL(simd, dw3_dw_block, (dwt, dy, x, s, c0));
        else RP_SIMD_CALL(simd, dw_dw_block, (dwt, dy, x, s, c0));
    }
    for (int c = 0; c < C; c++)
        for (int t = 0; t < KK; t++) dw[(size_t)c * KK + t] += dwt[(size_t)t * C + c];
}
