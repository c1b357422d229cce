#include "kernels/conv2d.h"

#include <limits.h>
#include <string.h>

#include "core/status.h"
#include "kernels/activation.h"
#include "kernels/actmask.h"
#include "kernels/batchnorm.h"
#include "kernels/gemm.h"
#include "kernels/window.h"

int conv2d_out_size(int n, int K, int stride, int pad)
{
    if (n < 1 || K < 1 || stride < 1 || pad < 0) return 0;
    int span = n + 2 * pad - K;
    return span < 0 ? 0 : span / stride + 1;
}

conv2d_shape conv2d_shape_make(int B, int H, int W, int C, int OC, int K, int stride, int pad,
                               int groups)
{
    RP_ASSERT(B >= 1 && groups >= 1 && C % groups == 0 && OC % groups == 0);
    conv2d_shape s = {.B = B, .H = H, .W = W, .C = C, .OC = OC, .K = K, .stride = stride,
                      .pad = pad, .groups = groups};
    s.OH = conv2d_out_size(H, K, stride, pad);
    s.OW = conv2d_out_size(W, K, stride, pad);
    size_t per_sample = (size_t)s.OH * s.OW * K * K * (C / groups);
    size_t chunk = per_sample ? RP_CONV_COLS_BUDGET / per_sample : (size_t)B;
    if (chunk < 1) chunk = 1;
    if (chunk > (size_t)B) chunk = (size_t)B;
    s.chunk = (int)chunk;
    s.slots = B < RP_CONV_SLOTS ? B : RP_CONV_SLOTS;
    int per_slot = (B + s.slots - 1) / s.slots, ohow = s.OH * s.OW > 0 ? s.OH * s.OW : 1;
    s.slot_batch = 512 / ohow; /* about 512 GEMM rows */
    if (s.slot_batch < 1) s.slot_batch = 1;
    if (s.slot_batch > per_slot) s.slot_batch = per_slot;
    return s;
}

bool conv2d_uses_depthwise(const conv2d_shape *s) { return s->groups == s->C && s->C > 1; }

bool conv2d_is_pointwise(const conv2d_shape *s)
{
    return s->K == 1 && s->stride == 1 && s->pad == 0;
}

size_t conv2d_scratch_floats(const conv2d_shape *s)
{
    if (conv2d_uses_depthwise(s)) return dwconv2d_scratch_floats(s);
    if (conv2d_uses_direct(s)) return conv2d_direct_scratch_floats(s);
    if (conv2d_uses_winograd(s)) return conv2d_winograd_scratch_floats(s);
    if (conv2d_uses_slots(s)) return conv2d_slots_scratch_floats(s);
    return conv2d_gemm_scratch_floats(s);
}

void conv2d_epilogue(float *y, size_t rows, int OC, const conv_bn *bn, act_kind act)
{
    if (bn) batchnorm_eval_apply(y, rows, OC, bn->mean, bn->invstd, bn->gamma, bn->beta, act);
    else act_inplace(y, rows * OC, act);
}

bool conv2d_forms_sums(const conv2d_shape *s)
{
    return dwconv2d_fast_applies(s) || conv2d_uses_direct(s) || conv2d_uses_winograd(s) || conv2d_uses_slots(s);
}

/* The reference paths' epilogue, in a pass of its own over blocks of rows: bn and act, then the
 * mask bits. */
static void epilogue_pass(float *y, const conv2d_shape *s, const conv_epilogue *e)
{
    size_t rows = (size_t)s->B * s->OH * s->OW;
    if (!e->bn && !e->bits) {
        act_inplace_parallel(y, rows * s->OC, e->act);
        if (e->pool) maxpool2d_forward(e->pool->y, e->pool->argmax, y, &e->pool->s);
        return;
    }
    long blocks = (long)((rows + 255) / 256);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < blocks; i++) {
        size_t r0 = (size_t)i * 256, n = rows - r0 < 256 ? rows - r0 : 256;
        conv2d_epilogue(y + r0 * s->OC, n, s->OC, e->bn, e->act);
        if (e->bits) act_mask_pack(e->bits + r0 * act_mask_row_bytes(s->OC), y + r0 * s->OC, n, s->OC, e->act);
    }
    if (e->pool) maxpool2d_forward(e->pool->y, e->pool->argmax, y, &e->pool->s);
}

void conv2d_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s, float *scratch,
                    const conv_epilogue *e)
{
    const conv_epilogue none = {.act = ACT_NONE};
    if (!e) e = &none;
    RP_ASSERT(!e->sums || (!e->bn && e->act == ACT_NONE && !e->bits && conv2d_forms_sums(s)));
    RP_ASSERT(!e->bits || e->act != ACT_NONE);
    RP_ASSERT(!e->pool || (!e->sums && e->pool->s.B == s->B && e->pool->s.H == s->OH && e->pool->s.W == s->OW &&
                           e->pool->s.C == s->OC));
    if (dwconv2d_fast_applies(s))
        dwconv2d_fast_forward(y, x, w, b, s, scratch, e);
    else if (conv2d_uses_direct(s))
        conv2d_direct_forward(y, x, w, b, s, scratch, e);
    else if (conv2d_uses_winograd(s))
        conv2d_winograd_forward(y, x, w, b, s, scratch, e);
    else if (conv2d_uses_slots(s))
        conv2d_slots_forward(y, x, w, b, s, scratch, e);
    else {
        if (conv2d_uses_depthwise(s)) dwconv2d_forward(y, x, w, b, s, scratch);
        else conv2d_gemm_forward(y, x, w, b, s, scratch);
        epilogue_pass(y, s, e);
    }
}

void conv2d_rows_forward(conv2d_rows_fn rows, float *y, const float *x, const float *wt, const float *b,
                         const conv2d_shape *s, const conv_epilogue *e)
{
    const conv_epilogue none = {.act = ACT_NONE};
    if (!e) e = &none;
    const size_t ohow = (size_t)s->OH * s->OW, row = (size_t)s->OW * s->OC;
    if (e->pool) { /* a sample at a time: its rows, their masks, then its pool while it is in cache */
#pragma omp parallel for schedule(static)
        for (int bi = 0; bi < s->B; bi++) {
            int r0 = bi * s->OH;
            rows(y, x, wt, b, s, r0, r0 + s->OH, e->bn, e->act);
            if (e->bits)
                act_mask_pack(e->bits + (size_t)r0 * s->OW * act_mask_row_bytes(s->OC), y + (size_t)r0 * row,
                              ohow, s->OC, e->act);
            maxpool2d_forward_samples(e->pool->y, e->pool->argmax, y, &e->pool->s, bi, bi + 1);
        }
        return;
    }
    if (!e->sums) {
#pragma omp parallel for schedule(static)
        for (int r = 0; r < s->B * s->OH; r++) {
            rows(y, x, wt, b, s, r, r + 1, e->bn, e->act);
            if (e->bits)
                act_mask_pack(e->bits + (size_t)r * s->OW * act_mask_row_bytes(s->OC), y + (size_t)r * row,
                              (size_t)s->OW, s->OC, e->act);
        }
        return;
    }
    RP_ASSERT(!e->bn && e->act == ACT_NONE && !e->bits);
#pragma omp parallel for schedule(static)
    for (int bi = 0; bi < s->B; bi++) {
        rows(y, x, wt, b, s, bi * s->OH, (bi + 1) * s->OH, NULL, ACT_NONE);
        batchnorm_sample_sums(e->sums + (size_t)bi * 2 * s->OC, y + (size_t)bi * ohow * s->OC, ohow, s->OC);
    }
}

void conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                     const conv2d_shape *s, float *scratch, bool acc)
{
    if (dwconv2d_fast_applies(s))
        dwconv2d_fast_backward(dx, dw, db, dy, x, w, s, scratch, acc);
    else if (conv2d_uses_direct(s))
        conv2d_direct_backward(dx, dw, db, dy, x, w, s, scratch, acc);
    else if (conv2d_uses_winograd(s))
        conv2d_winograd_backward(dx, dw, db, dy, x, w, s, scratch, acc);
    else if (conv2d_uses_slots(s))
        conv2d_slots_backward(dx, dw, db, dy, x, w, s, scratch, acc);
    else {
        if (dx && !acc) memset(dx, 0, (size_t)s->B * s->H * s->W * s->C * sizeof *dx);
        if (conv2d_uses_depthwise(s)) dwconv2d_backward(dx, dw, db, dy, x, w, s, scratch);
        else conv2d_gemm_backward(dx, dw, db, dy, x, w, s, scratch);
    }
}

/* Shared pieces ---------------------------------------------------------------------- */

/* y (rows, OC) = bias, or 0 without one. */
static void fill_bias(float *y, const float *b, size_t rows, int OC)
{
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        float *yr = y + r * OC;
        if (b)
            memcpy(yr, b, (size_t)OC * sizeof *yr);
        else
            memset(yr, 0, (size_t)OC * sizeof *yr);
    }
}

/* db (OC) += column sums of dy (rows, OC). Summed in double, rows in order, so the
 * result does not depend on the thread count (threads own disjoint channel blocks). */
void conv2d_bias_grad(float *db, const float *dy, size_t rows, int OC)
{
    enum { BLK = 64 };
    int nblk = (OC + BLK - 1) / BLK;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * BLK, n = OC - c0 < BLK ? OC - c0 : BLK;
        double acc[BLK] = {0};
        for (size_t r = 0; r < rows; r++) {
            const float *g = dy + r * OC + c0;
#pragma omp simd
            for (int c = 0; c < n; c++) acc[c] += g[c];
        }
        for (int c = 0; c < n; c++) db[c0 + c] += (float)acc[c];
    }
}

static int blas_int(size_t n)
{
    RP_ASSERT(n <= (size_t)INT_MAX);
    return (int)n;
}

/* General path: im2col + GEMM ------------------------------------------------------- */

size_t conv2d_gemm_scratch_floats(const conv2d_shape *s)
{
    if (conv2d_is_pointwise(s)) return 0;
    return (size_t)s->chunk * s->OH * s->OW * s->K * s->K * (s->C / s->groups);
}

/* cols (nb*OH*OW, K*K*ICg) for samples [b0, b0+nb) and group g: row (b, oh, ow), column
 * (kh, kw, ic), the same order as a weight row in OHWI; zero where the window leaves x. */
static void im2col(float *cols, const float *x, const conv2d_shape *s, int b0, int nb, int g)
{
    const int K = s->K, ICg = s->C / s->groups;
    const size_t kkc = (size_t)K * K * ICg;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < nb * s->OH; r++) {
        int b = b0 + r / s->OH, oh = r % s->OH;
        for (int ow = 0; ow < s->OW; ow++) {
            float *col = cols + ((size_t)r * s->OW + ow) * kkc;
            for (int kh = 0; kh < K; kh++) {
                int ih = oh * s->stride - s->pad + kh;
                for (int kw = 0; kw < K; kw++) {
                    int iw = ow * s->stride - s->pad + kw;
                    float *dst = col + ((size_t)kh * K + kw) * ICg;
                    if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) {
                        for (int c = 0; c < ICg; c++) dst[c] = 0.0f;
                        continue;
                    }
                    const float *src = x + (((size_t)b * s->H + ih) * s->W + iw) * s->C + g * ICg;
                    for (int c = 0; c < ICg; c++) dst[c] = src[c];
                }
            }
        }
    }
}

/* dx[b0..b0+nb, :, :, group g] += col2im(cols). Gathered per input pixel over (kh, kw) in
 * order, so threads write disjoint rows and the sum order is fixed. */
static void col2im_add(float *dx, const float *cols, const conv2d_shape *s, int b0, int nb, int g)
{
    const int K = s->K, ICg = s->C / s->groups;
    const size_t kkc = (size_t)K * K * ICg;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < nb * s->H; r++) {
        int b = b0 + r / s->H, ih = r % s->H;
        for (int iw = 0; iw < s->W; iw++) {
            float *d = dx + (((size_t)b * s->H + ih) * s->W + iw) * s->C + g * ICg;
            for (int kh = 0; kh < K; kh++) {
                int oh = rp_tap_out(ih, kh, s->pad, s->stride, s->OH);
                if (oh < 0) continue;
                for (int kw = 0; kw < K; kw++) {
                    int ow = rp_tap_out(iw, kw, s->pad, s->stride, s->OW);
                    if (ow < 0) continue;
                    const float *c = cols + (((size_t)(b - b0) * s->OH + oh) * s->OW + ow) * kkc +
                                     ((size_t)kh * K + kw) * ICg;
                    for (int i = 0; i < ICg; i++) d[i] += c[i];
                }
            }
        }
    }
}

void conv2d_gemm_forward(float *y, const float *x, const float *w, const float *b,
                         const conv2d_shape *s, float *scratch)
{
    const int ICg = s->C / s->groups, OCg = s->OC / s->groups;
    const size_t ohow = (size_t)s->OH * s->OW, kkc = (size_t)s->K * s->K * ICg;
    if (conv2d_is_pointwise(s)) {
        /* y (B*H*W, OC): group g's slice = x[:, g*ICg:] (B*H*W, ICg) x w_g^T */
        int rows = blas_int((size_t)s->B * ohow);
        fill_bias(y, b, (size_t)rows, s->OC);
        for (int g = 0; g < s->groups; g++)
            rp_sgemm(CblasNoTrans, CblasTrans, rows, OCg, ICg, 1.0f,
                        x + (size_t)g * ICg, s->C, w + (size_t)g * OCg * ICg, ICg, 1.0f,
                        y + (size_t)g * OCg, s->OC);
        return;
    }
    for (int b0 = 0; b0 < s->B; b0 += s->chunk) {
        int nb = s->B - b0 < s->chunk ? s->B - b0 : s->chunk;
        int rows = blas_int((size_t)nb * ohow);
        float *yc = y + (size_t)b0 * ohow * s->OC;
        fill_bias(yc, b, (size_t)rows, s->OC);
        for (int g = 0; g < s->groups; g++) {
            im2col(scratch, x, s, b0, nb, g);
            /* yc[:, g*OCg:] (rows, OCg) += cols (rows, kkc) x w_g^T (kkc, OCg) */
            rp_sgemm(CblasNoTrans, CblasTrans, rows, OCg, (int)kkc, 1.0f,
                        scratch, (int)kkc, w + (size_t)g * OCg * kkc, (int)kkc, 1.0f,
                        yc + (size_t)g * OCg, s->OC);
        }
    }
}

void conv2d_gemm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, const conv2d_shape *s, float *scratch)
{
    const int ICg = s->C / s->groups, OCg = s->OC / s->groups;
    const size_t ohow = (size_t)s->OH * s->OW, kkc = (size_t)s->K * s->K * ICg;
    if (db) conv2d_bias_grad(db, dy, (size_t)s->B * ohow, s->OC);
    if (!dx && !dw) return;
    if (conv2d_is_pointwise(s)) {
        int rows = blas_int((size_t)s->B * ohow);
        for (int g = 0; g < s->groups; g++) {
            const float *dyg = dy + (size_t)g * OCg, *wg = w + (size_t)g * OCg * ICg;
            if (dw) /* dw_g (OCg, ICg) += dy_g^T (OCg, rows) x x_g (rows, ICg) */
                rp_sgemm(CblasTrans, CblasNoTrans, OCg, ICg, rows, 1.0f, dyg,
                            s->OC, x + (size_t)g * ICg, s->C, 1.0f, dw + (size_t)g * OCg * ICg, ICg);
            if (dx) /* dx_g (rows, ICg) += dy_g (rows, OCg) x w_g (OCg, ICg) */
                rp_sgemm(CblasNoTrans, CblasNoTrans, rows, ICg, OCg, 1.0f, dyg,
                            s->OC, wg, ICg, 1.0f, dx + (size_t)g * ICg, s->C);
        }
        return;
    }
    for (int b0 = 0; b0 < s->B; b0 += s->chunk) {
        int nb = s->B - b0 < s->chunk ? s->B - b0 : s->chunk;
        int rows = blas_int((size_t)nb * ohow);
        const float *dyc = dy + (size_t)b0 * ohow * s->OC;
        for (int g = 0; g < s->groups; g++) {
            const float *dyg = dyc + (size_t)g * OCg, *wg = w + (size_t)g * OCg * kkc;
            if (dw) { /* dw_g (OCg, kkc) += dy_g^T (OCg, rows) x cols (rows, kkc) */
                im2col(scratch, x, s, b0, nb, g);
                rp_sgemm(CblasTrans, CblasNoTrans, OCg, (int)kkc, rows, 1.0f,
                            dyg, s->OC, scratch, (int)kkc, 1.0f, dw + (size_t)g * OCg * kkc,
                            (int)kkc);
            }
            if (dx) { /* dcols (rows, kkc) = dy_g (rows, OCg) x w_g (OCg, kkc); dx += col2im */
                rp_sgemm(CblasNoTrans, CblasNoTrans, rows, (int)kkc, OCg, 1.0f,
                            dyg, s->OC, wg, (int)kkc, 0.0f, scratch, (int)kkc);
                col2im_add(dx, scratch, s, b0, nb, g);
            }
        }
    }
}

/* Depthwise path: direct, vectorised over channels ------------------------------------ */

size_t dwconv2d_scratch_floats(const conv2d_shape *s)
{
    /* transposed weights, then dw taps and a chunk's sums per tap (the fast kernel: every chunk's
     * taps, from a 64-byte boundary) */
    size_t KK = (size_t)s->K * s->K, OC = ((size_t)s->OC + 15) & ~(size_t)15;
    return KK * s->OC + (size_t)(1 + dw_chunks(s->B)) * KK * OC + 16;
}

/* wt (K*K, OC) from w (OC, K*K): the inner loops then read weights contiguously. */
static void dw_transpose(float *wt, const float *w, int OC, int KK)
{
    for (int oc = 0; oc < OC; oc++)
        for (int t = 0; t < KK; t++) wt[(size_t)t * OC + oc] = w[(size_t)oc * KK + t];
}

void dwconv2d_forward(float *y, const float *x, const float *w, const float *b,
                      const conv2d_shape *s, float *scratch)
{
    RP_ASSERT(s->groups == s->C && s->OC % s->C == 0);
    const int K = s->K, C = s->C, OC = s->OC, M = OC / C;
    float *wt = scratch;
    dw_transpose(wt, w, OC, K * K);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < s->B * s->OH; r++) {
        int bi = r / s->OH, oh = r % s->OH;
        for (int ow = 0; ow < s->OW; ow++) {
            float *yr = y + ((size_t)r * s->OW + ow) * OC;
            for (int oc = 0; oc < OC; oc++) yr[oc] = b ? b[oc] : 0.0f;
            for (int kh = 0; kh < K; kh++) {
                int ih = oh * s->stride - s->pad + kh;
                if (ih < 0 || ih >= s->H) continue;
                for (int kw = 0; kw < K; kw++) {
                    int iw = ow * s->stride - s->pad + kw;
                    if (iw < 0 || iw >= s->W) continue;
                    const float *xr = x + (((size_t)bi * s->H + ih) * s->W + iw) * C;
                    const float *wr = wt + ((size_t)kh * K + kw) * OC;
                    if (M == 1) {
#pragma omp simd
                        for (int c = 0; c < C; c++) yr[c] += xr[c] * wr[c];
                    } else {
                        for (int c = 0; c < C; c++)
                            for (int m = 0; m < M; m++) yr[c * M + m] += xr[c] * wr[c * M + m];
                    }
                }
            }
        }
    }
}

/* dx += J^T dy, gathered per input pixel over taps in order (disjoint rows per thread). */
static void dwconv2d_backward_input(float *dx, const float *dy, const float *wt,
                                    const conv2d_shape *s)
{
    const int K = s->K, C = s->C, OC = s->OC, M = OC / C;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < s->B * s->H; r++) {
        int bi = r / s->H, ih = r % s->H;
        for (int iw = 0; iw < s->W; iw++) {
            float *d = dx + ((size_t)r * s->W + iw) * C;
            for (int kh = 0; kh < K; kh++) {
                int oh = rp_tap_out(ih, kh, s->pad, s->stride, s->OH);
                if (oh < 0) continue;
                for (int kw = 0; kw < K; kw++) {
                    int ow = rp_tap_out(iw, kw, s->pad, s->stride, s->OW);
                    if (ow < 0) continue;
                    const float *g = dy + (((size_t)bi * s->OH + oh) * s->OW + ow) * OC;
                    const float *wr = wt + ((size_t)kh * K + kw) * OC;
                    if (M == 1) {
#pragma omp simd
                        for (int c = 0; c < C; c++) d[c] += g[c] * wr[c];
                    } else {
                        for (int c = 0; c < C; c++) {
                            float acc = 0.0f;
                            for (int m = 0; m < M; m++) acc += g[c * M + m] * wr[c * M + m];
                            d[c] += acc;
                        }
                    }
                }
            }
        }
    }
}

/* acc (OC) += tap (kh, kw)'s dy * x over output rows [r0, r1) (rows (b, oh)), pixels in order. */
static void dw_tap_rows(float *acc, const float *dy, const float *x, const conv2d_shape *s, int kh, int kw, int r0,
                        int r1)
{
    const int C = s->C, OC = s->OC, M = OC / C;
    for (int r = r0; r < r1; r++) {
        int bi = r / s->OH, oh = r % s->OH;
        int ih = oh * s->stride - s->pad + kh;
        if (ih < 0 || ih >= s->H) continue;
        for (int ow = 0; ow < s->OW; ow++) {
            int iw = ow * s->stride - s->pad + kw;
            if (iw < 0 || iw >= s->W) continue;
            const float *xr = x + (((size_t)bi * s->H + ih) * s->W + iw) * C;
            const float *g = dy + ((size_t)r * s->OW + ow) * OC;
            if (M == 1) {
#pragma omp simd
                for (int c = 0; c < C; c++) acc[c] += g[c] * xr[c];
            } else {
                for (int c = 0; c < C; c++)
                    for (int m = 0; m < M; m++) acc[c * M + m] += g[c * M + m] * xr[c];
            }
        }
    }
}

/* dwt (K*K, OC) = per-tap sums in the chunked order of conv2d.h; threads own whole taps, each
 * tap a chunk's sums in part (K*K, OC). */
static void dwconv2d_backward_weight(float *dwt, float *part, const float *dy, const float *x,
                                     const conv2d_shape *s)
{
    const int K = s->K, OC = s->OC, chunks = dw_chunks(s->B);
#pragma omp parallel for schedule(static)
    for (int t = 0; t < K * K; t++) {
        float *tot = dwt + (size_t)t * OC, *acc = part + (size_t)t * OC;
        for (int oc = 0; oc < OC; oc++) tot[oc] = 0.0f;
        for (int k = 0; k < chunks; k++) {
            for (int oc = 0; oc < OC; oc++) acc[oc] = 0.0f;
            dw_tap_rows(acc, dy, x, s, t / K, t % K, s->B * k / chunks * s->OH, s->B * (k + 1) / chunks * s->OH);
            for (int oc = 0; oc < OC; oc++) tot[oc] += acc[oc];
        }
    }
}

void dwconv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                       const float *w, const conv2d_shape *s, float *scratch)
{
    RP_ASSERT(s->groups == s->C && s->OC % s->C == 0);
    const int KK = s->K * s->K, OC = s->OC;
    if (db) conv2d_bias_grad(db, dy, (size_t)s->B * s->OH * s->OW, OC);
    if (dx) {
        dw_transpose(scratch, w, OC, KK);
        dwconv2d_backward_input(dx, dy, scratch, s);
    }
    if (dw) {
        float *dwt = scratch + (size_t)KK * OC;
        dwconv2d_backward_weight(dwt, dwt + (size_t)KK * OC, dy, x, s);
        for (int oc = 0; oc < OC; oc++)
            for (int t = 0; t < KK; t++) dw[(size_t)oc * KK + t] += dwt[(size_t)t * OC + oc];
    }
}

/* Layout conversions -------------------------------------------------------------------- */

void conv_weight_oihw_to_ohwi(float *dst, const float *src, int O, int IC, int K)
{
    for (int o = 0; o < O; o++)
        for (int i = 0; i < IC; i++)
            for (int t = 0; t < K * K; t++)
                dst[((size_t)o * K * K + t) * IC + i] = src[((size_t)o * IC + i) * K * K + t];
}

void conv_weight_ohwi_to_oihw(float *dst, const float *src, int O, int IC, int K)
{
    for (int o = 0; o < O; o++)
        for (int i = 0; i < IC; i++)
            for (int t = 0; t < K * K; t++)
                dst[((size_t)o * IC + i) * K * K + t] = src[((size_t)o * K * K + t) * IC + i];
}
