#include "kernels/pool.h"

#include <math.h>
#include <string.h>

#include "kernels/conv2d.h"
#include "kernels/simd.h"
#include "kernels/window.h"

pool2d_shape pool2d_shape_make(int B, int H, int W, int C, int K, int stride, int pad)
{
    pool2d_shape s = {.B = B, .H = H, .W = W, .C = C, .K = K, .stride = stride, .pad = pad};
    s.OH = conv2d_out_size(H, K, stride, pad);
    s.OW = conv2d_out_size(W, K, stride, pad);
    return s;
}

/* Reference: each output pixel scans the window's input pixels in (kh, kw) order; rows
 * (b, oh) are independent, so threads split them. */
void maxpool2d_forward_ref(float *y, int32_t *argmax, const float *x, const pool2d_shape *s)
{
    const int C = s->C;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < s->B * s->OH; r++) {
        int b = r / s->OH, oh = r % s->OH;
        const float *xb = x + (size_t)b * s->H * s->W * C;
        for (int ow = 0; ow < s->OW; ow++) {
            float *yr = y + ((size_t)r * s->OW + ow) * C;
            int32_t *ar = argmax + ((size_t)r * s->OW + ow) * C;
            int h0 = oh * s->stride - s->pad, w0 = ow * s->stride - s->pad;
            /* the first real pixel of the window wins until something beats it */
            int32_t first = (int32_t)(((size_t)(h0 > 0 ? h0 : 0) * s->W + (w0 > 0 ? w0 : 0)) * C);
            for (int c = 0; c < C; c++) {
                yr[c] = -INFINITY;
                ar[c] = first + c;
            }
            for (int ih = h0; ih < h0 + s->K; ih++) {
                if (ih < 0 || ih >= s->H) continue;
                for (int iw = w0; iw < w0 + s->K; iw++) {
                    if (iw < 0 || iw >= s->W) continue;
                    int32_t base = (int32_t)(((size_t)ih * s->W + iw) * C);
                    const float *xr = xb + base;
                    for (int c = 0; c < C; c++) {
                        float v = xr[c];
                        if (v > yr[c] || isnan(v)) {
                            yr[c] = v;
                            ar[c] = base + c;
                        }
                    }
                }
            }
        }
    }
}

/* One output row (b, oh) of the reference's maths, every select branch-free so that the
 * loop over channels vectorises: take = v > y || v is NaN (v != v). */
#define MAXPOOL_TAP(xp, bp)                                                                 \
    {                                                                                       \
        float v = (xp)[c];                                                                  \
        int take = (v > cur) | (v != v);                                                    \
        cur = take ? v : cur;                                                               \
        a = take ? (bp) + c : a;                                                            \
    }
#define maxpool_row_BODY                                                                    \
    const int C = s->C;                                                                     \
    if (s->K == 2 && s->stride == 2 && s->pad == 0) {                                       \
        /* smallcnn's pools: the four taps in registers, in the loop's order, instead of a  \
         * load and a store of y and argmax around each (3.4x on 128x28x28x32, 2.6x on     \
         * 128x14x14x64) */                                                                 \
        for (int ow = 0; ow < s->OW; ow++) {                                                \
            float *yr = y + (size_t)ow * C;                                                 \
            int32_t *ar = argmax + (size_t)ow * C;                                          \
            int32_t b0 = (int32_t)(((size_t)2 * oh * s->W + 2 * ow) * C), b1 = b0 + C;      \
            int32_t b2 = b0 + s->W * C, b3 = b2 + C;                                        \
            const float *x0 = xb + b0, *x1 = xb + b1, *x2 = xb + b2, *x3 = xb + b3;         \
            _Pragma("omp simd") for (int c = 0; c < C; c++) {                               \
                float cur = -INFINITY;                                                      \
                int32_t a = b0 + c;                                                         \
                MAXPOOL_TAP(x0, b0) MAXPOOL_TAP(x1, b1) MAXPOOL_TAP(x2, b2) MAXPOOL_TAP(x3, b3) \
                yr[c] = cur;                                                                \
                ar[c] = a;                                                                  \
            }                                                                               \
        }                                                                                   \
        return;                                                                             \
    }                                                                                       \
    for (int ow = 0; ow < s->OW; ow++) {                                                    \
        float *yr = y + (size_t)ow * C;                                                     \
        int32_t *ar = argmax + (size_t)ow * C;                                              \
        int h0 = oh * s->stride - s->pad, w0 = ow * s->stride - s->pad;                     \
        int32_t first = (int32_t)(((size_t)(h0 > 0 ? h0 : 0) * s->W + (w0 > 0 ? w0 : 0)) * C); \
        _Pragma("omp simd") for (int c = 0; c < C; c++) {                                   \
            yr[c] = -INFINITY;                                                              \
            ar[c] = first + c;                                                              \
        }                                                                                   \
        for (int ih = h0 < 0 ? 0 : h0; ih < h0 + s->K && ih < s->H; ih++)                   \
            for (int iw = w0 < 0 ? 0 : w0; iw < w0 + s->K && iw < s->W; iw++) {             \
                int32_t base = (int32_t)(((size_t)ih * s->W + iw) * C);                     \
                const float *xr = xb + base;                                                \
                _Pragma("omp simd") for (int c = 0; c < C; c++) {                           \
                    float v = xr[c], cur = yr[c];                                           \
                    int take = (v > cur) | (v != v);                                        \
                    yr[c] = take ? v : cur;                                                 \
                    ar[c] = take ? base + c : ar[c];                                        \
                }                                                                           \
            }                                                                               \
    }
RP_SIMD_VARIANTS(maxpool_row, (float *restrict y, int32_t *restrict argmax, const float *restrict xb,
                               const pool2d_shape *s, int oh))

/* Output rows [r0, r1) of the B*OH through the SIMD variant, on the calling thread. */
static void pool_rows(float *y, int32_t *argmax, const float *x, const pool2d_shape *s, int r0, int r1)
{
    rp_simd simd = rp_simd_level();
    for (int r = r0; r < r1; r++) {
        size_t o = (size_t)r * s->OW * s->C;
        RP_SIMD_CALL(simd, maxpool_row,
                     (y + o, argmax + o, x + (size_t)(r / s->OH) * s->H * s->W * s->C, s, r % s->OH));
    }
}

/* Fast path: the reference's maths row by row through the SIMD variant (bit-identical). */
void maxpool2d_forward(float *y, int32_t *argmax, const float *x, const pool2d_shape *s)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < s->B * s->OH; r++) pool_rows(y, argmax, x, s, r, r + 1);
}

void maxpool2d_forward_samples(float *y, int32_t *argmax, const float *x, const pool2d_shape *s, int b0, int b1)
{
    pool_rows(y, argmax, x, s, b0 * s->OH, b1 * s->OH);
}

/* Scatter by argmax; samples are independent, so threads split the batch. */
void maxpool2d_backward(float *dx, const float *dy, const int32_t *argmax, const pool2d_shape *s)
{
    maxpool2d_backward_ex(dx, dy, argmax, s, true);
}

void maxpool2d_backward_ex(float *dx, const float *dy, const int32_t *argmax, const pool2d_shape *s,
                           bool acc)
{
    maxpool2d_backward_act(dx, dy, argmax, NULL, s, acc, 0);
}

void maxpool2d_backward_act_ref(float *dx, const float *dy, const int32_t *argmax, const float *y,
                                const pool2d_shape *s, bool acc, act_kind act)
{
    const size_t in_n = (size_t)s->H * s->W * s->C, out_n = (size_t)s->OH * s->OW * s->C;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < s->B; b++) {
        float *dxb = dx + (size_t)b * in_n;
        const float *g = dy + (size_t)b * out_n;
        const int32_t *a = argmax + (size_t)b * out_n;
        if (!acc) memset(dxb, 0, in_n * sizeof *dxb); /* one sample: in cache for the scatter */
        if (act == 0) {
            for (size_t i = 0; i < out_n; i++) dxb[a[i]] += g[i];
            continue;
        }
        const float *yb = y + (size_t)b * out_n; /* the max = the ReLU output at the argmax */
        for (size_t i = 0; i < out_n; i++) {
            float v = yb[i];
            bool pass = act == 1 ? v > 0.0f : v > 0.0f && v < 6.0f;
            dxb[a[i]] += pass ? g[i] : 0.0f;
        }
    }
}

/* Windows that tile the input (K == stride, pad 0): each input pixel lies in one window at
 * most, so dx is written pixel by pixel in one pass instead of zeroed and scattered into:
 * the reference's sum (0 or dx, + g or + 0 under the activation's mask) where the window's
 * argmax is, 0 or dx elsewhere. One output row (b, oh): the K input rows it covers, and the
 * rows below the last window when it is the last. */
#define maxpool_bwd_tiled_row_BODY                                                          \
    const int C = s->C, K = s->K, OW = s->OW, W = s->W;                                     \
    int last = oh == s->OH - 1 ? s->H : (oh + 1) * K;                                       \
    for (int ih = oh * K; ih < last; ih++) {                                                \
        float *dr = dxb + (size_t)ih * W * C;                                               \
        int covered = ih < (oh + 1) * K ? OW * K : 0; /* columns inside a window */         \
        for (int iw = 0; iw < covered; iw++) {                                              \
            int ow = iw / K;                                                                \
            const float *g = dyr + (size_t)ow * C, *yv = yr + (size_t)ow * C;               \
            const int32_t *a = ar + (size_t)ow * C;                                         \
            int32_t base = (int32_t)(((size_t)ih * W + iw) * C);                            \
            float *d = dr + (size_t)iw * C;                                                 \
            if (acc) {                                                                      \
                _Pragma("omp simd") for (int c = 0; c < C; c++) {                           \
                    /* no branches: GCC vectorises this */                                  \
                    float v = yv[c], from = d[c];                                           \
                    int pass = (act == 0) | ((v > 0.0f) & ((act == 1) | (v < 6.0f)));      \
                    float add = pass ? g[c] : 0.0f;                                         \
                    d[c] = a[c] == base + c ? from + add : from;                            \
                }                                                                           \
                continue;                                                                   \
            }                                                                               \
            _Pragma("omp simd") for (int c = 0; c < C; c++) { /* written: dx is not read */ \
                float v = yv[c];                                                            \
                int pass = (act == 0) | ((v > 0.0f) & ((act == 1) | (v < 6.0f)));          \
                float add = pass ? g[c] : 0.0f;                                             \
                d[c] = a[c] == base + c ? 0.0f + add : 0.0f;                                \
            }                                                                               \
        }                                                                                   \
        if (!acc) memset(dr + (size_t)covered * C, 0, (size_t)(W - covered) * C * sizeof *dr); \
    }
RP_SIMD_VARIANTS(maxpool_bwd_tiled_row, (float *dxb, const float *restrict dyr, const int32_t *restrict ar,
                                         const float *restrict yr, const pool2d_shape *s, int oh, bool acc, int act))

void maxpool2d_backward_act(float *dx, const float *dy, const int32_t *argmax, const float *y,
                            const pool2d_shape *s, bool acc, act_kind act)
{
    if (s->K != s->stride || s->pad != 0) {
        maxpool2d_backward_act_ref(dx, dy, argmax, y, s, acc, act);
        return;
    }
    const size_t in_n = (size_t)s->H * s->W * s->C, row = (size_t)s->OW * s->C;
    const float *ys = act ? y : dy; /* read only under an activation */
    rp_simd simd = rp_simd_level();
#pragma omp parallel for schedule(static)
    for (int r = 0; r < s->B * s->OH; r++) {
        int b = r / s->OH, oh = r % s->OH;
        RP_SIMD_CALL(simd, maxpool_bwd_tiled_row, (dx + (size_t)b * in_n, dy + (size_t)r * row,
                                                   argmax + (size_t)r * row, ys + (size_t)r * row, s, oh, acc,
                                                   (int)act));
    }
}

void avgpool2d_forward(float *y, const float *x, const pool2d_shape *s)
{
    const int C = s->C;
    const float div = (float)(s->K * s->K);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < s->B * s->OH; r++) {
        int b = r / s->OH, oh = r % s->OH;
        const float *xb = x + (size_t)b * s->H * s->W * C;
        for (int ow = 0; ow < s->OW; ow++) {
            float *yr = y + ((size_t)r * s->OW + ow) * C;
            int h0 = oh * s->stride - s->pad, w0 = ow * s->stride - s->pad;
            for (int c = 0; c < C; c++) yr[c] = 0.0f;
            for (int ih = h0; ih < h0 + s->K; ih++) {
                if (ih < 0 || ih >= s->H) continue;
                for (int iw = w0; iw < w0 + s->K; iw++) {
                    if (iw < 0 || iw >= s->W) continue;
                    const float *xr = xb + ((size_t)ih * s->W + iw) * C;
#pragma omp simd
                    for (int c = 0; c < C; c++) yr[c] += xr[c];
                }
            }
            for (int c = 0; c < C; c++) yr[c] /= div;
        }
    }
}

/* Gathered per input pixel over the windows that contain it, in (kh, kw) order. */
void avgpool2d_backward(float *dx, const float *dy, const pool2d_shape *s)
{
    const int C = s->C, K = s->K;
    const float div = (float)(K * K);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < s->B * s->H; r++) {
        int b = r / s->H, ih = r % s->H;
        for (int iw = 0; iw < s->W; iw++) {
            float *d = dx + ((size_t)r * s->W + iw) * C;
            for (int kh = 0; kh < K; kh++) {
                int oh = rp_tap_out(ih, kh, s->pad, s->stride, s->OH);
                if (oh < 0) continue;
                for (int kw = 0; kw < K; kw++) {
                    int ow = rp_tap_out(iw, kw, s->pad, s->stride, s->OW);
                    if (ow < 0) continue;
                    const float *g = dy + (((size_t)b * s->OH + oh) * s->OW + ow) * C;
#pragma omp simd
                    for (int c = 0; c < C; c++) d[c] += g[c] / div;
                }
            }
        }
    }
}

void global_avgpool_forward(float *y, const float *x, int B, int HW, int C)
{
    const float div = (float)HW;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        float *yr = y + (size_t)b * C;
        const float *xb = x + (size_t)b * HW * C;
        for (int c = 0; c < C; c++) yr[c] = 0.0f;
        for (int i = 0; i < HW; i++) {
#pragma omp simd
            for (int c = 0; c < C; c++) yr[c] += xb[(size_t)i * C + c];
        }
        for (int c = 0; c < C; c++) yr[c] /= div;
    }
}

void global_avgpool_backward(float *dx, const float *dy, int B, int HW, int C)
{
    const float div = (float)HW;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        const float *g = dy + (size_t)b * C;
        float *d = dx + (size_t)b * HW * C;
        for (int i = 0; i < HW; i++) {
#pragma omp simd
            for (int c = 0; c < C; c++) d[(size_t)i * C + c] += g[c] / div;
        }
    }
}
