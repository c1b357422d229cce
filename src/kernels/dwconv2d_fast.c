/* Depthwise conv2d (groups == C == OC), SIMD versions of the reference kernels in conv2d.c:
 * every output or gradient element gets the same float operations in the same order as
 * there (bias first, then taps in (kh, kw) order; weight gradients summed over the output
 * pixels (b, oh, ow) in order), so results are bit-identical. Channels run in blocks of 16
 * whose accumulators stay in vector registers. */
#include <string.h>

#include "core/status.h"
#include "kernels/conv2d.h"
#include "kernels/simd.h"

#define CB 16             /* channels per block */
#define RP_DW_MAX_TAPS 25 /* K*K of the register-blocked weight gradient (5x5) */

bool dwconv2d_fast_applies(const conv2d_shape *s)
{
    return conv2d_uses_depthwise(s) && s->OC == s->C;
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

/* Input row (b, ih): dx += dy * w gathered over the taps in (kh, kw) order (!acc: the row
 * is zeroed first, in cache). */
#define dw_dx_row_BODY                                                                      \
    const int K = s->K, C = s->C;                                                           \
    if (!acc) memset(dxr, 0, (size_t)s->W * C * sizeof *dxr);                               \
    for (int iw = 0; iw < s->W; iw++) {                                                     \
        float *d = dxr + (size_t)iw * C;                                                    \
        for (int kh = 0; kh < K; kh++) {                                                    \
            int th = ih + s->pad - kh;                                                      \
            if (th < 0 || th % s->stride || th / s->stride >= s->OH) continue;              \
            int oh = th / s->stride;                                                        \
            for (int kw = 0; kw < K; kw++) {                                                \
                int tw = iw + s->pad - kw;                                                  \
                if (tw < 0 || tw % s->stride || tw / s->stride >= s->OW) continue;          \
                const float *g = dyb + ((size_t)oh * s->OW + tw / s->stride) * C;           \
                const float *wr = wt + (size_t)(kh * K + kw) * C;                           \
                _Pragma("omp simd") for (int c = 0; c < C; c++) d[c] += g[c] * wr[c];       \
            }                                                                               \
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

/* wt (K*K, C) from w (C, K*K). */
static void dw_transpose(float *wt, const float *w, int C, int KK)
{
    for (int c = 0; c < C; c++)
        for (int t = 0; t < KK; t++) wt[(size_t)t * C + c] = w[(size_t)c * KK + t];
}

void dwconv2d_fast_forward(float *y, const float *x, const float *w, const float *b,
                           const conv2d_shape *s, float *scratch)
{
    RP_ASSERT(dwconv2d_fast_applies(s));
    dw_transpose(scratch, w, s->C, s->K * s->K);
    rp_simd simd = rp_simd_level();
#pragma omp parallel for schedule(static)
    for (int r = 0; r < s->B * s->OH; r++) {
        int bi = r / s->OH, oh = r % s->OH;
        RP_SIMD_CALL(simd, dw_fwd_row, (y + (size_t)r * s->OW * s->C,
                                        x + (size_t)bi * s->H * s->W * s->C, scratch, b, s, oh));
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
    for (int c0 = 0; c0 < C; c0 += CB) RP_SIMD_CALL(simd, dw_dw_block, (dwt, dy, x, s, c0));
    for (int c = 0; c < C; c++)
        for (int t = 0; t < KK; t++) dw[(size_t)c * KK + t] += dwt[(size_t)t * C + c];
}
