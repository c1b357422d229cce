/* Fast paths of conv2d (see conv2d.h): slots (im2col, or the input itself for a pointwise
 * conv, + a single-threaded product per block of samples: gemm_direct at the AVX-512 level,
 * cblas_sgemm below it) and direct (small K*K*C). Same maths as the reference kernels in
 * conv2d.c; the GEMM sum order differs, so results agree to float rounding, not bit for bit. */
#include <omp.h>
#include <string.h>

#include "core/status.h"
#include "kernels/activation.h"
#include "kernels/actmask.h"
#include "kernels/batchnorm.h"
#include "kernels/blas.h"
#include "kernels/conv2d.h"
#include "kernels/gemm_direct.h"
#include "kernels/simd.h"

/* Bias gradient -------------------------------------------------------------------------- */

enum { BG_CHUNKS = 16, BG_BLK = 64 }; /* fixed row chunks: the sum order ignores threads */

/* part (BG_BLK doubles) = column sums of dy rows [r0, r1), channels [c0, c0 + n). */
#define bias_part_BODY                                                                      \
    for (int c = 0; c < n; c++) part[c] = 0.0;                                              \
    for (size_t r = r0; r < r1; r++) {                                                      \
        const float *g = dy + r * OC + c0;                                                  \
        _Pragma("omp simd") for (int c = 0; c < n; c++) part[c] += g[c];                    \
    }
RP_SIMD_VARIANTS(bias_part, (double *restrict part, const float *restrict dy, size_t r0, size_t r1,
                             int OC, int c0, int n))

/* db (OC) += column sums of dy (rows, OC): as conv2d_bias_grad (double sums) but over 16
 * fixed row chunks x 64-channel blocks in parallel, chunks then combined in order. */
void conv2d_bias_grad_fast(float *db, const float *dy, size_t rows, int OC)
{
    int nblk = (OC + BG_BLK - 1) / BG_BLK, K = rows < BG_CHUNKS ? (int)rows : BG_CHUNKS;
    if (OC > 4 * BG_BLK || K < 2) { /* wide layers: the channel blocks alone keep threads busy */
        conv2d_bias_grad(db, dy, rows, OC);
        return;
    }
    double part[BG_CHUNKS][4 * BG_BLK];
    rp_simd simd = rp_simd_level();
#pragma omp parallel for schedule(static)
    for (int t = 0; t < K * nblk; t++) {
        int k = t / nblk, c0 = t % nblk * BG_BLK, n = OC - c0 < BG_BLK ? OC - c0 : BG_BLK;
        RP_SIMD_CALL(simd, bias_part, (part[k] + c0, dy, rows * k / K, rows * (k + 1) / K, OC, c0, n));
    }
    for (int c = 0; c < OC; c++) {
        double sum = 0.0;
        for (int k = 0; k < K; k++) sum += part[k][c];
        db[c] += (float)sum;
    }
}

/* Slots ---------------------------------------------------------------------------------- */

/* Weights of one group at most this many floats: beyond it the per-slot weight-gradient
 * copies cost more than they save, and whole-batch GEMMs (rp_sgemm) do well anyway. */
#define SLOTS_MAX_WEIGHTS 131072

bool conv2d_uses_slots(const conv2d_shape *s)
{
    size_t kkc = (size_t)s->K * s->K * (s->C / s->groups);
    return !conv2d_uses_depthwise(s) && (size_t)(s->OC / s->groups) * kkc <= SLOTS_MAX_WEIGHTS;
}

static void im2col_sample(float *cols, const float *xb, const conv2d_shape *s, int g);

/* Column floats per slot; a pointwise conv reads its input as the matrix (none). */
static size_t slot_cols(const conv2d_shape *s)
{
    if (conv2d_is_pointwise(s)) return 0;
    return (size_t)s->slot_batch * s->OH * s->OW * s->K * s->K * (s->C / s->groups);
}

/* The (rows, kkc) matrix of samples [bs, bs + nb), group g, and its leading dimension:
 * the input itself for a pointwise conv, else im2col into cols. */
static const float *slot_matrix(float *cols, const float *x, const conv2d_shape *s, int bs, int nb,
                                int g, int *ld)
{
    const size_t xn = (size_t)s->H * s->W * s->C, ohow = (size_t)s->OH * s->OW;
    const int ICg = s->C / s->groups;
    if (conv2d_is_pointwise(s)) {
        *ld = s->C;
        return x + (size_t)bs * xn + (size_t)g * ICg;
    }
    const size_t kkc = (size_t)s->K * s->K * ICg;
    for (int i = 0; i < nb; i++) im2col_sample(cols + (size_t)i * ohow * kkc, x + (size_t)(bs + i) * xn, s, g);
    *ld = (int)kkc;
    return cols;
}

/* Words of the weights' BF16 pairs (one group): for the forward (kkc, OC) or the input
 * gradient (OC, kkc), room for either at any precision (it may change between passes). */
static size_t bf16_b_words(const conv2d_shape *s)
{
    if (s->groups != 1) return 0;
    int kkc = s->K * s->K * s->C;
    size_t f = gemm_direct_bf16_b_words(s->OC, kkc), b = gemm_direct_bf16_b_words(kkc, s->OC);
    return f > b ? f : b;
}

/* BF16 pairs of the weights, packed by the threads into the scratch's last bf16_b_words(s)
 * when gemm_direct runs with BF16 products on a one-group conv (forward: B = w^T; input gradient:
 * B = w); else NULL. */
static const uint32_t *bf16_b(const conv2d_shape *s, const float *w, float *scratch, bool forward)
{
    if (s->groups != 1 || !gemm_direct_applies() || !gemm_direct_bf16()) return NULL;
    int kkc = s->K * s->K * s->C;
    uint32_t *bp = (uint32_t *)(void *)(scratch + conv2d_slots_scratch_floats(s) - bf16_b_words(s));
    gemm_direct_bf16_pack_b_threads(bp, w, (size_t)kkc, forward, forward ? s->OC : kkc, forward ? kkc : s->OC);
    return bp;
}

size_t conv2d_slots_scratch_floats(const conv2d_shape *s)
{
    size_t kkc = (size_t)s->K * s->K * (s->C / s->groups);
    return (size_t)s->slots * (slot_cols(s) + (size_t)s->OC * kkc) + bf16_b_words(s);
}

/* cols (OH*OW, K*K*ICg) of sample xb (H, W, C), group g: row (oh, ow), column (kh, kw, ic),
 * zero outside x. The (kw, ic) run of one kernel row is contiguous in NHWC when ICg == C. */
static void im2col_sample(float *cols, const float *xb, const conv2d_shape *s, int g)
{
    const int K = s->K, C = s->C, ICg = C / s->groups;
    const size_t kkc = (size_t)K * K * ICg;
    for (int oh = 0; oh < s->OH; oh++)
        for (int ow = 0; ow < s->OW; ow++) {
            float *col = cols + ((size_t)oh * s->OW + ow) * kkc;
            int iw0 = ow * s->stride - s->pad;
            for (int kh = 0; kh < K; kh++) {
                int ih = oh * s->stride - s->pad + kh;
                float *dst = col + (size_t)kh * K * ICg;
                if (ih < 0 || ih >= s->H) {
                    memset(dst, 0, (size_t)K * ICg * sizeof *dst);
                    continue;
                }
                const float *row = xb + (size_t)ih * s->W * C + (size_t)g * ICg;
                if (ICg == C && iw0 >= 0 && iw0 + K <= s->W) {
                    memcpy(dst, row + (size_t)iw0 * C, (size_t)K * C * sizeof *dst);
                    continue;
                }
                for (int kw = 0; kw < K; kw++) {
                    int iw = iw0 + kw;
                    if (iw < 0 || iw >= s->W) memset(dst + (size_t)kw * ICg, 0, (size_t)ICg * sizeof *dst);
                    else memcpy(dst + (size_t)kw * ICg, row + (size_t)iw * C, (size_t)ICg * sizeof *dst);
                }
            }
        }
}

/* dxb (H, W, C) group g += col2im(cols) for one sample: gathered per input pixel over
 * (kh, kw) in order, as the reference does. */
#define col2im_sample_BODY                                                                  \
    const int K = s->K, C = s->C, ICg = C / s->groups;                                      \
    const size_t kkc = (size_t)K * K * ICg;                                                 \
    for (int ih = 0; ih < s->H; ih++)                                                       \
        for (int kh = 0; kh < K; kh++) {                                                    \
            int th = ih + s->pad - kh;                                                      \
            if (th < 0 || th % s->stride || th / s->stride >= s->OH) continue;              \
            int oh = th / s->stride;                                                        \
            for (int iw = 0; iw < s->W; iw++) {                                             \
                float *d = dxb + ((size_t)ih * s->W + iw) * C + (size_t)g * ICg;            \
                for (int kw = 0; kw < K; kw++) {                                            \
                    int tw = iw + s->pad - kw;                                              \
                    if (tw < 0 || tw % s->stride || tw / s->stride >= s->OW) continue;      \
                    const float *c = cols + ((size_t)oh * s->OW + tw / s->stride) * kkc +   \
                                     ((size_t)kh * K + kw) * ICg;                           \
                    _Pragma("omp simd") for (int i = 0; i < ICg; i++) d[i] += c[i];         \
                }                                                                           \
            }                                                                               \
        }
RP_SIMD_VARIANTS(col2im_sample, (float *dxb, const float *cols, const conv2d_shape *s, int g))

/* The first and one-past-last sample of slot sl. */
static void slot_range(const conv2d_shape *s, int sl, int *b0, int *b1)
{
    *b0 = (int)((long)s->B * sl / s->slots);
    *b1 = (int)((long)s->B * (sl + 1) / s->slots);
}

#define EP_MAX_OC 4096 /* output channels whose batch norm scale the fused epilogue keeps on the stack */

/* Each block's epilogue right after its GEMM: bn and act, the activation's mask (kernels/actmask.h),
 * or each sample's batchnorm_sample_sums of y. */
void conv2d_slots_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s,
                          float *scratch, const conv_epilogue *e)
{
    const conv_epilogue none = {.act = ACT_NONE};
    if (!e) e = &none;
    const int ICg = s->C / s->groups, OCg = s->OC / s->groups;
    const size_t ohow = (size_t)s->OH * s->OW, kkc = (size_t)s->K * s->K * ICg;
    /* gemm_direct reads the weights as (kkc, OCg) per group: laid out once, where the
     * backward keeps its weight-gradient partials */
    const bool direct = gemm_direct_applies();
    float *wt = scratch + (size_t)s->slots * slot_cols(s);
    const uint32_t *bp = bf16_b(s, w, scratch, true);
    for (int g = 0; direct && !bp && g < s->groups; g++)
        gemm_direct_transpose(wt + (size_t)g * OCg * kkc, w + (size_t)g * OCg * kkc, OCg, (int)kkc);
    /* gemm_direct does the batch norm, the activation and its mask on each tile of the product
     * while it is in registers (gemm_direct_ep), not in passes over the block; the rest of the
     * epilogue (sums, pool) stays in conv2d_block_epilogue */
    float k[EP_MAX_OC];
    gemm_direct_ep ep = {.act = e->act, .ldbits = act_mask_row_bytes(s->OC)};
    const bool fused = direct && s->groups == 1 && !e->sums && (e->bn || e->act != ACT_NONE || e->bits) &&
                       (!e->bn || s->OC <= EP_MAX_OC);
    if (fused && e->bn) {
        batchnorm_eval_k1(k, e->bn->gamma, e->bn->invstd, s->OC); /* = invstd * gamma, as the pass forms it */
        ep.mean = e->bn->mean, ep.k = k, ep.beta = e->bn->beta;
    }
    conv_epilogue rest = *e;
    if (fused) rest.bn = NULL, rest.act = ACT_NONE, rest.bits = NULL;
    int blas = rp_blas_single_begin();
#pragma omp parallel for schedule(dynamic, 1)
    for (int sl = 0; sl < s->slots; sl++) {
        float *cols = scratch + (size_t)sl * slot_cols(s);
        int b0, b1;
        slot_range(s, sl, &b0, &b1);
        for (int bs = b0; bs < b1; bs += s->slot_batch) {
            int nb = b1 - bs < s->slot_batch ? b1 - bs : s->slot_batch, ld;
            float *yc = y + (size_t)bs * ohow * s->OC;
            /* y = bias (or 0) + product, as the reference. The block is filled here, in cache:
             * OpenBLAS with beta = 0 zeroes C itself, slower (2x on 16->96 pointwise);
             * gemm_direct writes the product without a bias */
            if (b)
                for (size_t r = 0; r < (size_t)nb * ohow; r++) memcpy(yc + r * s->OC, b, (size_t)s->OC * sizeof *yc);
            else if (!direct)
                memset(yc, 0, (size_t)nb * ohow * s->OC * sizeof *yc);
            gemm_direct_ep epb = ep;
            if (e->bits) epb.bits = e->bits + (size_t)bs * ohow * ep.ldbits;
            for (int g = 0; g < s->groups; g++) {
                const float *m = slot_matrix(cols, x, s, bs, nb, g, &ld);
                /* yc[:, g*OCg:] (rows, OCg) += m (rows, kkc) x w_g^T (kkc, OCg) */
                if (bp)
                    gemm_direct_bf16_nn_packed_ep((int)(nb * ohow), OCg, (int)kkc, m, (size_t)ld, bp, yc,
                                                  (size_t)s->OC, b != NULL, fused ? &epb : NULL);
                else if (direct)
                    gemm_direct_nn_ep((int)(nb * ohow), OCg, (int)kkc, m, (size_t)ld, wt + (size_t)g * OCg * kkc,
                                      (size_t)OCg, yc + (size_t)g * OCg, (size_t)s->OC, b != NULL,
                                      conv2d_is_pointwise(s), /* A: x itself from memory, or cols in cache */
                                      fused ? &epb : NULL);
                else
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(nb * ohow), OCg, (int)kkc,
                                1.0f, m, ld, w + (size_t)g * OCg * kkc, (int)kkc, 1.0f,
                                yc + (size_t)g * OCg, s->OC);
            }
            conv2d_block_epilogue(y, s, bs, nb, &rest);
        }
    }
    rp_blas_single_end(blas);
}

void conv2d_block_epilogue(float *y, const conv2d_shape *s, int bs, int nb, const conv_epilogue *e)
{
    const size_t ohow = (size_t)s->OH * s->OW, rows = (size_t)nb * ohow;
    float *yc = y + (size_t)bs * ohow * s->OC;
    conv2d_epilogue(yc, rows, s->OC, e->bn, e->act);
    if (e->bits) act_mask_pack(e->bits + (size_t)bs * ohow * act_mask_row_bytes(s->OC), yc, rows, s->OC, e->act);
    for (int i = 0; e->sums && i < nb; i++)
        batchnorm_sample_sums(e->sums + (size_t)(bs + i) * 2 * s->OC, yc + (size_t)i * ohow * s->OC, ohow, s->OC);
    if (e->pool) maxpool2d_forward_samples(e->pool->y, e->pool->argmax, y, &e->pool->s, bs, bs + nb);
}

/* One slot of the backward: its weight-gradient partial (OC, kkc) is written, not added. */
static void slot_backward(float *dx, float *part, const float *dy, const float *x, const float *w,
                          const uint32_t *bp, const conv2d_shape *s, float *cols, int sl, rp_simd simd, bool acc)
{
    const int ICg = s->C / s->groups, OCg = s->OC / s->groups;
    const size_t ohow = (size_t)s->OH * s->OW, kkc = (size_t)s->K * s->K * ICg;
    const size_t xn = (size_t)s->H * s->W * s->C;
    const bool pointwise = conv2d_is_pointwise(s), direct = gemm_direct_applies();
    int b0, b1;
    slot_range(s, sl, &b0, &b1);
    for (int bs = b0; bs < b1; bs += s->slot_batch) {
        int nb = b1 - bs < s->slot_batch ? b1 - bs : s->slot_batch, rows = (int)(nb * ohow), ld;
        const float *dyc = dy + (size_t)bs * ohow * s->OC;
        /* zero the block here, in cache, then add as the reference does (gemm_direct writes
         * a pointwise conv's dx block itself) */
        if (dx && !acc && !(direct && pointwise))
            memset(dx + (size_t)bs * xn, 0, (size_t)nb * xn * sizeof *dx);
        for (int g = 0; g < s->groups; g++) {
            const float *dyg = dyc + (size_t)g * OCg, *wg = w + (size_t)g * OCg * kkc;
            if (part) { /* part_g (OCg, kkc) (+)= dy_g^T (OCg, rows) x m (rows, kkc) */
                const float *m = slot_matrix(cols, x, s, bs, nb, g, &ld);
                if (direct)
                    gemm_direct_tn_weights(OCg, (int)kkc, rows, dyg, (size_t)s->OC, m, (size_t)ld,
                                           part + (size_t)g * OCg * kkc, kkc, bs != b0, true,
                                           gemm_direct_bf16_tn_pays(OCg, (int)kkc));
                else
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OCg, (int)kkc, rows, 1.0f, dyg,
                                s->OC, m, ld, bs == b0 ? 0.0f : 1.0f, part + (size_t)g * OCg * kkc, (int)kkc);
            }
            float *dxg = dx ? dx + (size_t)bs * xn + (size_t)g * ICg : NULL;
            if (dx && pointwise && bp)
                gemm_direct_bf16_nn_packed(rows, ICg, OCg, dyg, (size_t)s->OC, bp, dxg, (size_t)s->C, acc);
            else if (dx && pointwise && direct) /* dx_g (rows, ICg) (+)= dy_g (rows, OCg) x w_g (OCg, ICg) */
                gemm_direct_nn(rows, ICg, OCg, dyg, (size_t)s->OC, wg, (size_t)ICg, dxg, (size_t)s->C, acc, true);
            else if (dx && pointwise)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, ICg, OCg, 1.0f, dyg, s->OC,
                            wg, ICg, 1.0f, dxg, s->C);
            else if (dx) { /* dcols (rows, kkc) = dy_g (rows, OCg) x w_g (OCg, kkc); dx += col2im */
                if (bp)
                    gemm_direct_bf16_nn_packed(rows, (int)kkc, OCg, dyg, (size_t)s->OC, bp, cols, kkc, false);
                else if (direct)
                    gemm_direct_nn(rows, (int)kkc, OCg, dyg, (size_t)s->OC, wg, kkc, cols, kkc, false, true);
                else
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, (int)kkc, OCg, 1.0f,
                                dyg, s->OC, wg, (int)kkc, 0.0f, cols, (int)kkc);
                for (int i = 0; i < nb; i++)
                    RP_SIMD_CALL(simd, col2im_sample,
                                 (dx + (size_t)(bs + i) * xn, cols + (size_t)i * ohow * kkc, s, g));
            }
        }
    }
}

/* The weight gradient of a one-group pointwise conv through gemm_direct: dw (OC, C) += dy^T x
 * over all the batch's rows in one product per piece, the pieces along dw's larger dimension
 * (each reads its slice of the larger operand) shared among the threads. An element's sum
 * does not depend on the pieces, so there are no per-slot partials to add up. */
static void pointwise_dw_direct(float *dw, const float *dy, const float *x, const conv2d_shape *s)
{
    const int rows = s->B * s->OH * s->OW, OC = s->OC, C = s->C, n = OC >= C ? OC : C;
    int threads = omp_get_max_threads(), piece = (n + threads - 1) / threads;
    piece = (piece + 15) / 16 * 16;
    int pieces = (n + piece - 1) / piece;
    const bool bf16 = gemm_direct_bf16_tn_pays(OC, C); /* of the whole dw: the same for any pieces */
#pragma omp parallel for schedule(static)
    for (int p = 0; p < pieces; p++) {
        int o = p * piece, len = n - o < piece ? n - o : piece;
        if (OC >= C) /* rows o.. of dw: columns o.. of dy */
            gemm_direct_tn_weights(len, C, rows, dy + o, (size_t)OC, x, (size_t)C, dw + (size_t)o * C, (size_t)C,
                                   true, true, bf16);
        else /* columns o.. of dw: columns o.. of x */
            gemm_direct_tn_weights(OC, len, rows, dy, (size_t)OC, x + o, (size_t)C, dw + o, (size_t)C, true, true,
                                   bf16);
    }
}

void conv2d_slots_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                           const float *w, const conv2d_shape *s, float *scratch, bool acc)
{
    const size_t nw = (size_t)s->OC * s->K * s->K * (s->C / s->groups);
    if (db) conv2d_bias_grad_fast(db, dy, (size_t)s->B * s->OH * s->OW, s->OC);
    if (dw && gemm_direct_applies() && conv2d_is_pointwise(s) && s->groups == 1) {
        pointwise_dw_direct(dw, dy, x, s);
        dw = NULL;
    }
    if (!dx && !dw) return;
    float *parts = scratch + (size_t)s->slots * slot_cols(s);
    const uint32_t *bp = dx ? bf16_b(s, w, scratch, false) : NULL;
    rp_simd simd = rp_simd_level();
    int blas = rp_blas_single_begin();
#pragma omp parallel for schedule(dynamic, 1)
    for (int sl = 0; sl < s->slots; sl++)
        slot_backward(dx, dw ? parts + (size_t)sl * nw : NULL, dy, x, w, bp, s,
                      scratch + (size_t)sl * slot_cols(s), sl, simd, acc);
    rp_blas_single_end(blas);
    if (!dw) return;
#pragma omp parallel for schedule(static) if (nw > 4096)
    for (size_t j = 0; j < nw; j++) { /* slots in order: independent of the thread count */
        float sum = parts[j];
        for (int sl = 1; sl < s->slots; sl++) sum += parts[(size_t)sl * nw + j];
        dw[j] += sum;
    }
}

/* Direct ------------------------------------------------------------------------------------- */

#define DIRECT_MAX_TAPS 32 /* K*K*C */

bool conv2d_uses_direct(const conv2d_shape *s)
{
    return s->groups == 1 && !conv2d_is_pointwise(s) && s->K * s->K * s->C <= DIRECT_MAX_TAPS &&
           s->OC % 16 == 0;
}

size_t conv2d_direct_scratch_floats(const conv2d_shape *s)
{
    size_t taps = (size_t)s->K * s->K * s->C;
    size_t own = (size_t)(s->slots > 1 ? s->slots : 1) * taps * s->OC; /* wt; dw per slot */
    size_t dx = conv2d_slots_scratch_floats(s);
    return own > dx ? own : dx;
}

/* Output channels in blocks of DBLK: a block's accumulators stay in vector registers. The
 * taps of one kernel row inside x are contiguous in NHWC (and in wt), so each valid kernel
 * row is one run of n = (kw1 - kw0) * C taps. */
#define DBLK 16

/* y row (b, oh), output channels [o0, o0 + DBLK): acc = sum over taps (kh, kw, c) in order
 * of x * wt[tap], then y = bias + acc (the GEMM's order: C = beta C + A B). wt (taps, OC).
 * Four interior pixels at a time keep four independent sums in flight (one sum's chain of
 * dependent adds bounds a pixel alone); each pixel's operations and order are unchanged. */
#define direct_fwd_row_BODY                                                                 \
    const int K = s->K, C = s->C, OC = s->OC, S = s->stride;                                \
    rp_vec bv[RP_NV];                                                                       \
    RP_VLOOP(v) bv[v] = b ? RP_LDV(b + o0 + v * RP_VL) : (rp_vec){0};                       \
    for (int ow = 0; ow < s->OW;) {                                                         \
        int iw0 = ow * S - s->pad;                                                          \
        if (ow + 4 <= s->OW && iw0 >= 0 && iw0 + 3 * S + K <= s->W) {                       \
            rp_vec a0[RP_NV], a1[RP_NV], a2[RP_NV], a3[RP_NV];                              \
            RP_VLOOP(v) a0[v] = a1[v] = a2[v] = a3[v] = (rp_vec){0};                        \
            for (int kh = 0; kh < K; kh++) {                                                \
                int ih = oh * S - s->pad + kh;                                              \
                if (ih < 0 || ih >= s->H) continue;                                         \
                const float *xp = xb + ((size_t)ih * s->W + iw0) * C;                       \
                const float *wr = wt + (size_t)kh * K * C * OC + o0;                        \
                for (int j = 0; j < K * C; j++) {                                           \
                    float x0 = xp[j], x1 = xp[j + S * C], x2 = xp[j + 2 * S * C], x3 = xp[j + 3 * S * C]; \
                    RP_VLOOP(v) {                                                           \
                        rp_vec w = RP_LDV(wr + (size_t)j * OC + v * RP_VL);                 \
                        a0[v] += x0 * w;                                                    \
                        a1[v] += x1 * w;                                                    \
                        a2[v] += x2 * w;                                                    \
                        a3[v] += x3 * w;                                                    \
                    }                                                                       \
                }                                                                           \
            }                                                                               \
            float *yr = y + (size_t)ow * OC + o0;                                           \
            RP_VLOOP(v) {                                                                   \
                float *yv = yr + v * RP_VL;                                                 \
                if (b) {                                                                    \
                    RP_STV(yv, bv[v] + a0[v]);                                              \
                    RP_STV(yv + OC, bv[v] + a1[v]);                                         \
                    RP_STV(yv + 2 * OC, bv[v] + a2[v]);                                     \
                    RP_STV(yv + 3 * OC, bv[v] + a3[v]);                                     \
                } else {                                                                    \
                    RP_STV(yv, a0[v]);                                                      \
                    RP_STV(yv + OC, a1[v]);                                                 \
                    RP_STV(yv + 2 * OC, a2[v]);                                             \
                    RP_STV(yv + 3 * OC, a3[v]);                                             \
                }                                                                           \
            }                                                                               \
            ow += 4;                                                                        \
            continue;                                                                       \
        }                                                                                   \
        int kw0 = iw0 < 0 ? -iw0 : 0, kw1 = iw0 + K > s->W ? s->W - iw0 : K;                \
        rp_vec acc[RP_NV];                                                                  \
        RP_VLOOP(v) acc[v] = (rp_vec){0};                                                   \
        for (int kh = 0; kh < K; kh++) {                                                    \
            int ih = oh * S - s->pad + kh;                                                  \
            if (ih < 0 || ih >= s->H) continue;                                             \
            const float *xp = xb + ((size_t)ih * s->W + iw0 + kw0) * C;                     \
            const float *wr = wt + (size_t)(kh * K + kw0) * C * OC + o0;                    \
            for (int j = 0; j < (kw1 - kw0) * C; j++)                                       \
                RP_VLOOP(v) acc[v] += xp[j] * RP_LDV(wr + (size_t)j * OC + v * RP_VL);      \
        }                                                                                   \
        float *yr = y + (size_t)ow * OC + o0;                                               \
        RP_VLOOP(v) RP_STV(yr + v * RP_VL, b ? bv[v] + acc[v] : acc[v]);                    \
        ow++;                                                                               \
    }
RP_SIMD_VARIANTS(direct_fwd_row, (float *y, const float *xb, const float *wt, const float *b,
                                  const conv2d_shape *s, int oh, int o0))

/* wt (taps, OC) from w (OC, taps). */
static void transpose_weights(float *wt, const float *w, int OC, int taps)
{
    for (int o = 0; o < OC; o++)
        for (int t = 0; t < taps; t++) wt[(size_t)t * OC + o] = w[(size_t)o * taps + t];
}

void conv2d_direct_weights(float *wt, const float *w, const conv2d_shape *s)
{
    transpose_weights(wt, w, s->OC, s->K * s->K * s->C);
}

void conv2d_direct_rows(float *y, const float *x, const float *wt, const float *b, const conv2d_shape *s, int r0,
                        int r1, const conv_bn *bn, act_kind act)
{
    rp_simd simd = rp_simd_level();
    for (int r = r0; r < r1; r++) {
        int bi = r / s->OH, oh = r % s->OH;
        for (int o0 = 0; o0 < s->OC; o0 += DBLK)
            RP_SIMD_CALL(simd, direct_fwd_row, (y + (size_t)r * s->OW * s->OC,
                                                x + (size_t)bi * s->H * s->W * s->C, wt, b, s, oh, o0));
        conv2d_epilogue(y + (size_t)r * s->OW * s->OC, (size_t)s->OW, s->OC, bn, act);
    }
}

void conv2d_direct_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s,
                           float *scratch, const conv_epilogue *e)
{
    RP_ASSERT(conv2d_uses_direct(s));
    conv2d_direct_weights(scratch, w, s);
    conv2d_rows_forward(conv2d_direct_rows, y, x, scratch, b, s, e);
}

/* dxb += cols scattered output pixel by output pixel: one kernel row's (kw, c) run is
 * contiguous in both (one group), where col2im_sample's gather per input pixel runs C-long
 * loops (3 floats for a first layer). */
#define scatter_cols_BODY                                                                   \
    const int K = s->K, C = s->C, S = s->stride, P = s->pad, KC = K * C;                    \
    for (int oh = 0; oh < s->OH; oh++)                                                      \
        for (int ow = 0; ow < s->OW; ow++) {                                                \
            const float *col = cols + ((size_t)oh * s->OW + ow) * K * KC;                   \
            int iw0 = ow * S - P;                                                           \
            for (int kh = 0; kh < K; kh++) {                                                \
                int ih = oh * S - P + kh;                                                   \
                if (ih < 0 || ih >= s->H) continue;                                         \
                const float *src = col + (size_t)kh * KC;                                   \
                float *dst = dxb + ((size_t)ih * s->W + iw0) * C;                           \
                if (iw0 >= 0 && iw0 + K <= s->W) {                                          \
                    for (int i = 0; i < KC; i++) dst[i] += src[i];                          \
                    continue;                                                               \
                }                                                                           \
                for (int kw = 0; kw < K; kw++)                                              \
                    if (iw0 + kw >= 0 && iw0 + kw < s->W)                                   \
                        for (int c = 0; c < C; c++) dst[kw * C + c] += src[kw * C + c];     \
            }                                                                               \
        }
RP_SIMD_VARIANTS(scatter_cols, (float *restrict dxb, const float *restrict cols, const conv2d_shape *s))

void conv2d_dx_sample(float *dxb, const float *dyb, const float *w, const conv2d_shape *s, float *cols, bool acc)
{
    RP_ASSERT(s->groups == 1 && !conv2d_is_pointwise(s));
    const int kkc = s->K * s->K * s->C, rows = s->OH * s->OW;
    if (!acc) memset(dxb, 0, (size_t)s->H * s->W * s->C * sizeof *dxb);
    if (gemm_direct_bf16()) /* the products the slots path's input gradient makes (BF16 pairs) */
        gemm_direct_nn(rows, kkc, s->OC, dyb, (size_t)s->OC, w, (size_t)kkc, cols, (size_t)kkc, false, true);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, kkc, s->OC, 1.0f, dyb, s->OC, w, kkc, 0.0f,
                    cols, kkc);
    RP_SIMD_CALL(rp_simd_level(), scatter_cols, (dxb, cols, s));
}

/* part (taps, OC), channels [o0, o0 + DBLK) = sum over the slot's output pixels in order of
 * x[tap] * dy. The block's taps * DBLK accumulators live in acc (L1). */
#define direct_dw_slot_BODY                                                                 \
    const int K = s->K, C = s->C, OC = s->OC, taps = K * K * C;                             \
    float acc[DIRECT_MAX_TAPS * DBLK];                                                      \
    for (int i = 0; i < taps * DBLK; i++) acc[i] = 0.0f;                                    \
    for (int bi = b0; bi < b1; bi++) {                                                      \
        const float *xb = x + (size_t)bi * s->H * s->W * C;                                 \
        for (int oh = 0; oh < s->OH; oh++)                                                  \
            for (int ow = 0; ow < s->OW; ow++) {                                            \
                const float *g = dy + (((size_t)bi * s->OH + oh) * s->OW + ow) * OC + o0;   \
                int iw0 = ow * s->stride - s->pad;                                          \
                int kw0 = iw0 < 0 ? -iw0 : 0, kw1 = iw0 + K > s->W ? s->W - iw0 : K;        \
                for (int kh = 0; kh < K; kh++) {                                            \
                    int ih = oh * s->stride - s->pad + kh;                                  \
                    if (ih < 0 || ih >= s->H) continue;                                     \
                    const float *xp = xb + ((size_t)ih * s->W + iw0 + kw0) * C;             \
                    float *ar = acc + (kh * K + kw0) * C * DBLK;                            \
                    for (int j = 0; j < (kw1 - kw0) * C; j++) {                             \
                        float xv = xp[j];                                                   \
                        _Pragma("omp simd") for (int o = 0; o < DBLK; o++)                  \
                            ar[j * DBLK + o] += xv * g[o];                                  \
                    }                                                                       \
                }                                                                           \
            }                                                                               \
    }                                                                                       \
    for (int t = 0; t < taps; t++)                                                          \
        for (int o = 0; o < DBLK; o++) part[(size_t)t * OC + o0 + o] = acc[t * DBLK + o];
RP_SIMD_VARIANTS(direct_dw_slot, (float *part, const float *dy, const float *x, const conv2d_shape *s,
                                  int b0, int b1, int o0))

/* direct_dw_slot for 3x3 kernels over 1 or 3 input channels (grayscale and RGB stems: TAPS 9
 * or 27), the TAPS x DBLK sums in registers across the pixels (the loops over taps unroll, so
 * every index is a constant), instead of a load and a store of each sum at every pixel; 9 taps
 * take two blocks of output channels per pass over dy (NB). Each (tap, channel) still adds the
 * pixels in order: the same bits. */
#define DW3C_TAP(t, xv, NB)                                                                 \
    RP_VLOOP(v) {                                                                           \
        a[0][t][v] += (xv) * g0[v];                                                         \
        if ((NB) > 1) a[(NB) - 1][t][v] += (xv) * g1[v];                                    \
    }
#define DW3C_PASS(TAPS, CC, NB)                                                             \
    {                                                                                       \
        rp_vec a[NB][TAPS][RP_NV];                                                          \
        for (int k = 0; k < (NB); k++)                                                      \
            _Pragma("GCC unroll 64") for (int t = 0; t < (TAPS); t++)                       \
                RP_VLOOP(v) a[k][t][v] = (rp_vec){0};                                       \
        for (int bi = b0; bi < b1; bi++) {                                                  \
            const float *xb = x + (size_t)bi * s->H * s->W * (CC);                          \
            for (int oh = 0; oh < s->OH; oh++)                                              \
                for (int ow = 0; ow < s->OW; ow++) {                                        \
                    const float *g = dy + (((size_t)bi * s->OH + oh) * s->OW + ow) * OC + o0; \
                    rp_vec g0[RP_NV], g1[RP_NV];                                            \
                    RP_VLOOP(v) g0[v] = g1[v] = RP_LDV(g + v * RP_VL);                      \
                    if (NB > 1) RP_VLOOP(v) g1[v] = RP_LDV(g + DBLK + v * RP_VL);           \
                    int ih0 = oh * s->stride - s->pad, iw0 = ow * s->stride - s->pad;       \
                    if (ih0 >= 0 && ih0 + 3 <= s->H && iw0 >= 0 && iw0 + 3 <= s->W) {       \
                        const float *xp = xb + ((size_t)ih0 * s->W + iw0) * (CC);           \
                        _Pragma("GCC unroll 64") for (int t = 0; t < (TAPS); t++) {         \
                            float xv = xp[(size_t)(t / (3 * (CC))) * s->W * (CC) + t % (3 * (CC))]; \
                            DW3C_TAP(t, xv, NB)                                             \
                        }                                                                   \
                        continue;                                                           \
                    }                                                                       \
                    _Pragma("GCC unroll 64") for (int t = 0; t < (TAPS); t++) {             \
                        int ih = ih0 + t / (3 * (CC)), iw = iw0 + (t / (CC)) % 3;           \
                        if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;         \
                        float xv = xb[((size_t)ih * s->W + iw) * (CC) + t % (CC)];          \
                        DW3C_TAP(t, xv, NB)                                                 \
                    }                                                                       \
                }                                                                           \
        }                                                                                   \
        for (int k = 0; k < (NB); k++)                                                      \
            _Pragma("GCC unroll 64") for (int t = 0; t < (TAPS); t++)                       \
                RP_VLOOP(v) RP_STV(part + (size_t)t * OC + o0 + k * DBLK + v * RP_VL, a[k][t][v]); \
    }
#define direct_dw3c_slot_BODY                                                               \
    const int OC = s->OC;                                                                   \
    if (s->C == 1 && pair) DW3C_PASS(9, 1, 2)                                               \
    else if (s->C == 1) DW3C_PASS(9, 1, 1)                                                  \
    else DW3C_PASS(27, 3, 1)
RP_SIMD_VARIANTS(direct_dw3c_slot, (float *part, const float *dy, const float *x, const conv2d_shape *s,
                                    int b0, int b1, int o0, bool pair))

void conv2d_direct_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, const conv2d_shape *s, float *scratch, bool acc)
{
    RP_ASSERT(conv2d_uses_direct(s));
    if (db) conv2d_bias_grad_fast(db, dy, (size_t)s->B * s->OH * s->OW, s->OC);
    if (dx) conv2d_slots_backward(dx, NULL, NULL, dy, x, w, s, scratch, acc);
    if (!dw) return;
    const int taps = s->K * s->K * s->C, OC = s->OC;
    const size_t nw = (size_t)taps * OC;
    rp_simd simd = rp_simd_level();
    const bool regs = s->K == 3 && (s->C == 1 || s->C == 3); /* the sums fit the registers */
#pragma omp parallel for schedule(static)
    for (int sl = 0; sl < s->slots; sl++) {
        int b0, b1;
        slot_range(s, sl, &b0, &b1);
        for (int o0 = 0; o0 < OC;) {
            bool pair = s->C == 1 && o0 + 2 * DBLK <= OC;
            if (regs) RP_SIMD_CALL(simd, direct_dw3c_slot, (scratch + (size_t)sl * nw, dy, x, s, b0, b1, o0, pair));
            else RP_SIMD_CALL(simd, direct_dw_slot, (scratch + (size_t)sl * nw, dy, x, s, b0, b1, o0));
            o0 += regs && pair ? 2 * DBLK : DBLK;
        }
    }
    for (int o = 0; o < OC; o++) /* slots in order: independent of the thread count */
        for (int t = 0; t < taps; t++) {
            float sum = scratch[(size_t)t * OC + o];
            for (int sl = 1; sl < s->slots; sl++) sum += scratch[(size_t)sl * nw + (size_t)t * OC + o];
            dw[(size_t)o * taps + t] += sum;
        }
}
