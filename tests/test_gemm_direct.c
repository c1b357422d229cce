/* gemm_direct (kernels/gemm_direct.h): the AVX-512 products without packing.
 *
 *  - bit for bit against a scalar model of the documented order (s = 0, s = fmaf(a, b, s)
 *    over k, tn in blocks of GEMM_DIRECT_KB; C = s or C + s), which libm's fmaf rounds
 *    exactly: every tile size (24, 12, 4 and 1 rows), column tails of 1-32, strided operands,
 *    write and accumulate modes;
 *  - against double-precision sums (the model itself is checked, not only copied);
 *  - columns outside N and rows outside M are never written;
 *  - splitting M or N into separate calls gives the same bits (what makes the conv paths
 *    independent of the thread count);
 *  - the BF16 products (gemm_direct_set_bf16), where the CPU has AVX512_BF16 (else reported
 *    as skipped): against double sums of the operands rounded to BF16 (nearest even), within
 *    FP32 summation error, and measurably apart from the FP32 product (the rounding happened);
 *    split calls give the same bits; NaN and infinities pass through; switching it on fails
 *    where the SIMD level lacks it; the weight gradients' A^T B form (gemm_direct_bf16_tn)
 *    likewise, over several blocks of k;
 *  - the epilogue on the tiles (gemm_direct_nn_ep, gemm_direct_bf16_nn_packed_ep): the same bits
 *    as the product stored and then batchnorm_eval_apply / act_inplace and act_mask_pack over it,
 *    every activation with and without the batch norm, with and without the mask, written and
 *    accumulated, FP32 and BF16; padding of C and of the mask rows untouched;
 *  - rp_sgemm's FP32 products through gemm_direct (kernels/gemm.c): A B and A^T B bit for bit
 *    against the model, on one thread as on two; A B^T (OpenBLAS) within float error;
 *  - which weight gradients take BF16 operands: decided by the whole product's shape
 *    (gemm_direct_bf16_tn_pays), through the pointwise conv's and rp_sgemm's pieces. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/actmask.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "kernels/gemm_direct.h"
#include "testutil.h"

typedef struct gd_case {
    int M, N, K;
} gd_case;

static const gd_case CASES[] = {
    {1, 1, 1},   {5, 3, 7},     {13, 17, 33},  {25, 16, 16}, {37, 40, 50}, {100, 96, 24},
    {29, 33, 9}, {48, 24, 144}, {12, 32, 192}, {7, 1, 600},  {61, 20, 1100}, {3, 5, 0},
};

/* Operands with padding: lda = K + 3 (nn) or M + 3 (tn), ldb = N + 5, ldc = N + 7. */
typedef struct gd_data {
    int M, N, K;
    size_t lda_nn, lda_tn, ldb, ldc;
    float *A, *At, *B, *C0;
} gd_data;

static void make(gd_data *d, const gd_case *c, uint64_t seed)
{
    d->M = c->M, d->N = c->N, d->K = c->K;
    d->lda_nn = (size_t)c->K + 3, d->lda_tn = (size_t)c->M + 3, d->ldb = (size_t)c->N + 5, d->ldc = (size_t)c->N + 7;
    size_t na = (size_t)c->M * d->lda_nn + 1, nat = ((size_t)c->K + 1) * d->lda_tn, nb = ((size_t)c->K + 1) * d->ldb;
    d->A = malloc(na * sizeof(float));
    d->At = malloc(nat * sizeof(float));
    d->B = malloc(nb * sizeof(float));
    d->C0 = malloc((size_t)c->M * d->ldc * sizeof(float));
    assert_true(d->A && d->At && d->B && d->C0);
    tu_fill_uniform(d->A, na, -1.0f, 1.0f, seed);
    tu_fill_uniform(d->At, nat, -1.0f, 1.0f, seed + 1);
    tu_fill_uniform(d->B, nb, -1.0f, 1.0f, seed + 2);
    tu_fill_uniform(d->C0, (size_t)c->M * d->ldc, -2.0f, 2.0f, seed + 3);
}

static void release(gd_data *d)
{
    free(d->A), free(d->At), free(d->B), free(d->C0);
}

static float a_at(const gd_data *d, bool tn, int i, int k)
{
    return tn ? d->At[(size_t)k * d->lda_tn + i] : d->A[(size_t)i * d->lda_nn + k];
}

/* The documented order, element by element, with libm's exactly rounded fmaf. */
static void model(float *C, const gd_data *d, bool tn, bool acc)
{
    int KB = tn ? GEMM_DIRECT_KB : (d->K > 0 ? d->K : 1);
    for (int i = 0; i < d->M; i++)
        for (int j = 0; j < d->N; j++) {
            float *c = C + (size_t)i * d->ldc + j;
            if (d->K == 0 && !acc) *c = 0.0f;
            for (int k0 = 0; k0 < d->K; k0 += KB) {
                float s = 0.0f;
                for (int k = k0; k < d->K && k < k0 + KB; k++)
                    s = fmaf(a_at(d, tn, i, k), d->B[(size_t)k * d->ldb + j], s);
                *c = acc || k0 > 0 ? *c + s : s;
            }
        }
}

/* stream (software prefetch of A) is a hint: the whole products run with it as acc, the split
 * ones without it as acc, and all must give the same bits. */
static void run(float *C, const gd_data *d, bool tn, bool acc, int m0, int m1, int n0, int n1, bool stream)
{
    if (tn)
        gemm_direct_tn(m1 - m0, n1 - n0, d->K, d->At + m0, d->lda_tn, d->B + n0, d->ldb,
                       C + (size_t)m0 * d->ldc + n0, d->ldc, acc, stream);
    else
        gemm_direct_nn(m1 - m0, n1 - n0, d->K, d->A + (size_t)m0 * d->lda_nn, d->lda_nn, d->B + n0, d->ldb,
                       C + (size_t)m0 * d->ldc + n0, d->ldc, acc, stream);
}

static void test_gemm_direct(void **state)
{
    (void)state;
    if (!gemm_direct_applies()) skip(); /* no AVX-512 here: the conv paths use OpenBLAS */
    for (size_t t = 0; t < sizeof CASES / sizeof CASES[0]; t++) {
        gd_data d;
        make(&d, &CASES[t], 900 + 10 * t);
        size_t nc = (size_t)d.M * d.ldc;
        float *want = malloc(nc * sizeof(float)), *got = malloc(nc * sizeof(float));
        float *split = malloc(nc * sizeof(float));
        for (int tn = 0; tn < 2; tn++)
            for (int acc = 0; acc < 2; acc++) {
                memcpy(want, d.C0, nc * sizeof(float));
                model(want, &d, tn, acc);
                memcpy(got, d.C0, nc * sizeof(float));
                run(got, &d, tn, acc, 0, d.M, 0, d.N, acc);
                if (memcmp(got, want, nc * sizeof(float)))
                    fail_msg("case %zu (M %d N %d K %d) %s acc %d: not the documented sums (or padding written)", t,
                             d.M, d.N, d.K, tn ? "tn" : "nn", acc);
                /* the model against double sums: |error| <= K ulp-scale bound */
                for (int i = 0; i < d.M; i++)
                    for (int j = 0; j < d.N; j++) {
                        double r = acc ? d.C0[(size_t)i * d.ldc + j] : 0.0, mag = fabs(r);
                        for (int k = 0; k < d.K; k++) {
                            double p = (double)a_at(&d, tn, i, k) * d.B[(size_t)k * d.ldb + j];
                            r += p, mag += fabs(p);
                        }
                        double err = fabs(r - got[(size_t)i * d.ldc + j]);
                        if (err > (d.K + 2) * 6e-8 * mag + 1e-30)
                            fail_msg("case %zu %s: element (%d, %d) off by %g", t, tn ? "tn" : "nn", i, j, err);
                    }
                /* rows and columns in separate calls: the same bits */
                int mh = d.M / 2 + (d.M > 13 ? 5 : 0), nh = d.N > 17 ? 17 : d.N / 2;
                memcpy(split, d.C0, nc * sizeof(float));
                run(split, &d, tn, acc, 0, mh, 0, nh, !acc);
                run(split, &d, tn, acc, 0, mh, nh, d.N, !acc);
                run(split, &d, tn, acc, mh, d.M, 0, d.N, !acc);
                if (memcmp(split, got, nc * sizeof(float)))
                    fail_msg("case %zu %s acc %d: split calls give other bits", t, tn ? "tn" : "nn", acc);
            }
        free(want), free(got), free(split);
        release(&d);
    }
}

/* x rounded to BF16, nearest even (finite x), as a float. */
static float bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    u &= 0xFFFF0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Row counts across the 24/12/4/1 tiles and the row blocks (K 1100: blocks of 48 rows),
 * column tails, odd K (a zero-padded last pair), K past the stack's blocks (2501: A's pairs
 * from malloc). */
static const gd_case BF_CASES[] = {
    {1, 1, 1},     {5, 3, 7},      {13, 17, 33},  {48, 24, 144}, {100, 96, 24}, {130, 40, 1100},
    {61, 20, 2},   {97, 33, 320},  {29, 160, 96}, {200, 16, 960}, {30, 20, 2501},
};

static void test_gemm_direct_bf16(void **state)
{
    (void)state;
    if (!gemm_direct_bf16_supported()) skip(); /* no AVX512_BF16 here: reported as not run */
    for (size_t t = 0; t < sizeof BF_CASES / sizeof BF_CASES[0]; t++) {
        gd_data d;
        make(&d, &BF_CASES[t], 700 + 10 * t);
        size_t nc = (size_t)d.M * d.ldc;
        float *f32 = malloc(nc * sizeof(float)), *got = malloc(nc * sizeof(float));
        float *split = malloc(nc * sizeof(float));
        for (int acc = 0; acc < 2; acc++) {
            memcpy(f32, d.C0, nc * sizeof(float));
            run(f32, &d, false, acc, 0, d.M, 0, d.N, true);
            assert_true(gemm_direct_set_bf16(true) && gemm_direct_bf16());
            memcpy(got, d.C0, nc * sizeof(float));
            run(got, &d, false, acc, 0, d.M, 0, d.N, true);
            int mh = d.M / 2 + (d.M > 13 ? 5 : 0), nh = d.N > 17 ? 17 : d.N / 2;
            memcpy(split, d.C0, nc * sizeof(float));
            run(split, &d, false, acc, 0, mh, 0, nh, true);
            run(split, &d, false, acc, 0, mh, nh, d.N, true);
            run(split, &d, false, acc, mh, d.M, 0, d.N, true);
            assert_true(gemm_direct_set_bf16(false) && !gemm_direct_bf16());
            if (memcmp(split, got, nc * sizeof(float)))
                fail_msg("bf16 case %zu acc %d: split calls give other bits", t, acc);
            double apart = 0.0;
            for (int i = 0; i < d.M; i++)
                for (int j = 0; j < d.N + 7; j++) {
                    size_t o = (size_t)i * d.ldc + j;
                    if (j >= d.N) { /* padding: untouched */
                        if (j < (int)d.ldc && memcmp(&got[o], &d.C0[o], sizeof(float)))
                            fail_msg("bf16 case %zu: padding column %d of row %d written", t, j, i);
                        continue;
                    }
                    double r = acc ? d.C0[o] : 0.0, mag = fabs(r);
                    for (int k = 0; k < d.K; k++) {
                        double p = (double)bf16_round(a_at(&d, false, i, k)) * bf16_round(d.B[(size_t)k * d.ldb + j]);
                        r += p, mag += fabs(p);
                    }
                    double err = fabs(r - got[o]);
                    if (err > (d.K / 2 + 3) * 6e-8 * mag + 1e-30)
                        fail_msg("bf16 case %zu acc %d: element (%d, %d) is %.9g, the rounded operands' sum %.9g", t,
                                 acc, i, j, got[o], r);
                    if (mag > 0) apart = fmax(apart, fabs(got[o] - f32[o]) / mag);
                }
            /* BF16 keeps 8 bits of mantissa: the rounding moves some element by far more than
             * FP32 summation could (2^-9 relative per operand) */
            if (d.K >= 7 && !(apart > 1e-4)) fail_msg("bf16 case %zu: within %g of the FP32 product: not rounded", t, apart);
        }
        free(f32), free(got), free(split);
        release(&d);
    }
    /* the weight gradients' form, A^T B in blocks of GEMM_DIRECT_KB (K 1100: three blocks, the
     * last odd): within FP32 summation error of the rounded operands' sums, apart from FP32's,
     * the same bits for split calls */
    static const gd_case TN[] = {{16, 96, 1100}, {96, 16, 777}, {50, 33, 64}, {130, 40, 3}, {7, 300, 1}};
    for (size_t t = 0; t < sizeof TN / sizeof TN[0]; t++) {
        gd_data d;
        make(&d, &TN[t], 600 + 10 * t);
        size_t nc = (size_t)d.M * d.ldc;
        float *f32 = malloc(nc * sizeof(float)), *got = malloc(nc * sizeof(float)), *split = malloc(nc * sizeof(float));
        for (int acc = 0; acc < 2; acc++) {
            memcpy(f32, d.C0, nc * sizeof(float));
            run(f32, &d, true, acc, 0, d.M, 0, d.N, true);
            memcpy(got, d.C0, nc * sizeof(float));
            assert_true(gemm_direct_bf16_tn(d.M, d.N, d.K, d.At, d.lda_tn, d.B, d.ldb, got, d.ldc, acc));
            memcpy(split, d.C0, nc * sizeof(float));
            int mh = d.M / 2, nh = d.N / 2;
            assert_true(gemm_direct_bf16_tn(mh, nh, d.K, d.At, d.lda_tn, d.B, d.ldb, split, d.ldc, acc));
            assert_true(gemm_direct_bf16_tn(mh, d.N - nh, d.K, d.At, d.lda_tn, d.B + nh, d.ldb, split + nh, d.ldc, acc));
            assert_true(gemm_direct_bf16_tn(d.M - mh, d.N, d.K, d.At + mh, d.lda_tn, d.B, d.ldb,
                                            split + (size_t)mh * d.ldc, d.ldc, acc));
            if (memcmp(split, got, nc * sizeof(float))) fail_msg("bf16 tn case %zu acc %d: split calls give other bits", t, acc);
            double apart = 0.0;
            for (int i = 0; i < d.M; i++)
                for (int j = 0; j < (int)d.ldc; j++) {
                    size_t o = (size_t)i * d.ldc + j;
                    if (j >= d.N) {
                        if (memcmp(&got[o], &d.C0[o], sizeof(float))) fail_msg("bf16 tn case %zu: padding written", t);
                        continue;
                    }
                    double r = acc ? d.C0[o] : 0.0, mag = fabs(r);
                    for (int k = 0; k < d.K; k++) {
                        double p = (double)bf16_round(a_at(&d, true, i, k)) * bf16_round(d.B[(size_t)k * d.ldb + j]);
                        r += p, mag += fabs(p);
                    }
                    if (fabs(r - got[o]) > (GEMM_DIRECT_KB / 2 + d.K / GEMM_DIRECT_KB + 3) * 6e-8 * mag + 1e-30)
                        fail_msg("bf16 tn case %zu acc %d: element (%d, %d) is %.9g, the rounded operands' sum %.9g", t,
                                 acc, i, j, got[o], r);
                    if (mag > 0) apart = fmax(apart, fabs(got[o] - f32[o]) / mag);
                }
            if (d.K >= 7 && !(apart > 1e-4)) fail_msg("bf16 tn case %zu: within %g of the FP32 product", t, apart);
        }
        free(f32), free(got), free(split);
        release(&d);
    }
    /* NaN and infinity in A reach their rows of C */
    enum { M = 50, N = 20, K = 9 };
    float A[M * K], B[K * N], C[M * N];
    tu_fill_uniform(A, M * K, -1.0f, 1.0f, 5);
    tu_fill_uniform(B, K * N, -1.0f, 1.0f, 6);
    A[3 * K + 4] = NAN, A[7 * K + 8] = INFINITY;
    assert_true(gemm_direct_set_bf16(true));
    gemm_direct_nn(M, N, K, A, K, B, N, C, N, false, false);
    assert_true(gemm_direct_set_bf16(false));
    for (int j = 0; j < N; j++) {
        assert_true(isnan(C[3 * N + j]));
        assert_true(isinf(C[7 * N + j]) || isnan(C[7 * N + j]));
        assert_true(isfinite(C[2 * N + j]));
    }
    /* below AVX-512 it cannot be switched on, and a forced lower level turns it off */
    assert_true(gemm_direct_set_bf16(true));
    rp_simd_force(RP_SIMD_AVX2);
    assert_false(gemm_direct_bf16());
    assert_false(gemm_direct_set_bf16(true));
    rp_simd_force(RP_SIMD_AVX512);
    assert_true(gemm_direct_bf16()); /* still set: the level is back */
    assert_true(gemm_direct_set_bf16(false));
}

/* The epilogue on the tiles against the passes it replaces, bit for bit. */
static void test_gemm_direct_epilogue(void **state)
{
    (void)state;
    if (!gemm_direct_applies()) skip();
    const int levels = gemm_direct_bf16_supported() ? 2 : 1;
    for (size_t t = 0; t < sizeof CASES / sizeof CASES[0]; t++) {
        gd_data d;
        make(&d, &CASES[t], 1700 + 10 * t);
        const int N = d.N;
        size_t nc = (size_t)d.M * d.ldc, ldbits = act_mask_row_bytes(N) + 3, nbits = (size_t)d.M * ldbits;
        float *want = malloc(nc * sizeof(float)), *got = malloc(nc * sizeof(float));
        float *mean = malloc((size_t)N * sizeof(float)), *invstd = malloc((size_t)N * sizeof(float));
        float *gamma = malloc((size_t)N * sizeof(float)), *beta = malloc((size_t)N * sizeof(float));
        float *k = malloc((size_t)N * sizeof(float));
        uint8_t *bw = malloc(nbits), *bg = malloc(nbits);
        tu_fill_uniform(mean, (size_t)N, -1.0f, 1.0f, 1800 + t);
        tu_fill_uniform(invstd, (size_t)N, 0.5f, 2.0f, 1801 + t);
        tu_fill_uniform(gamma, (size_t)N, -2.0f, 2.0f, 1802 + t);
        tu_fill_uniform(beta, (size_t)N, -1.0f, 3.0f, 1803 + t);
        for (int j = 0; j < N; j++) k[j] = invstd[j] * gamma[j];
        uint32_t *bp = levels > 1 ? malloc(gemm_direct_bf16_b_words(N, d.K > 0 ? d.K : 1) * sizeof *bp) : NULL;
        for (int level = 0; level < levels; level++)
            for (int act = ACT_NONE; act <= ACT_RELU6; act++)
                for (int mode = 0; mode < 4; mode++) { /* bit 0: batch norm; bit 1: accumulate */
                    bool bn = mode & 1, acc = mode & 2, bits = act != ACT_NONE;
                    if (!bn && act == ACT_NONE) continue;
                    assert_true(gemm_direct_set_bf16(level == 1));
                    memcpy(want, d.C0, nc * sizeof(float));
                    memcpy(got, d.C0, nc * sizeof(float));
                    memset(bw, 0xA5, nbits);
                    memset(bg, 0xA5, nbits);
                    gemm_direct_ep ep = {.mean = bn ? mean : NULL, .k = k, .beta = beta, .act = (act_kind)act,
                                         .bits = bits ? bg : NULL, .ldbits = ldbits};
                    if (level == 1 && d.K > 0) {
                        gemm_direct_bf16_pack_b(bp, d.B, d.ldb, false, N, d.K);
                        gemm_direct_bf16_nn_packed(d.M, N, d.K, d.A, d.lda_nn, bp, want, d.ldc, acc);
                        gemm_direct_bf16_nn_packed_ep(d.M, N, d.K, d.A, d.lda_nn, bp, got, d.ldc, acc, &ep);
                    } else {
                        gemm_direct_nn(d.M, N, d.K, d.A, d.lda_nn, d.B, d.ldb, want, d.ldc, acc, false);
                        gemm_direct_nn_ep(d.M, N, d.K, d.A, d.lda_nn, d.B, d.ldb, got, d.ldc, acc, true, &ep);
                    }
                    for (int i = 0; i < d.M; i++) {
                        float *row = want + (size_t)i * d.ldc;
                        if (bn) batchnorm_eval_apply(row, 1, N, mean, invstd, gamma, beta, (act_kind)act);
                        else act_inplace(row, (size_t)N, (act_kind)act);
                        if (bits) act_mask_pack(bw + (size_t)i * ldbits, row, 1, N, (act_kind)act);
                    }
                    if (memcmp(got, want, nc * sizeof(float)) || memcmp(bg, bw, nbits))
                        fail_msg("case %zu (M %d N %d K %d) %s act %d bn %d acc %d: the epilogue on the tiles differs "
                                 "from the passes", t, d.M, N, d.K, level ? "bf16" : "fp32", act, bn, acc);
                }
        assert_true(gemm_direct_set_bf16(false));
        free(want), free(got), free(mean), free(invstd), free(gamma), free(beta), free(k), free(bw), free(bg), free(bp);
        release(&d);
    }
}

/* Within float error of double sums of scale op(A) op(B) (+ C0 when acc). */
static void expect_sums(const char *what, size_t t, const float *c, const gd_data *d, bool tn, bool acc, float scale)
{
    for (int i = 0; i < d->M; i++)
        for (int j = 0; j < d->N; j++) {
            double r = acc ? d->C0[(size_t)i * d->ldc + j] : 0.0, mag = fabs(r);
            for (int k = 0; k < d->K; k++) {
                double p = (double)scale * a_at(d, tn, i, k) * d->B[(size_t)k * d->ldb + j];
                r += p, mag += fabs(p);
            }
            if (fabs(r - c[(size_t)i * d->ldc + j]) > (d->K + 2) * 6e-8 * mag + 1e-30)
                fail_msg("case %zu %s: element (%d, %d) %g, want %g", t, what, i, j, c[(size_t)i * d->ldc + j], r);
        }
}

/* rp_sgemm in FP32 where gemm_direct runs (kernels/gemm.c): op(A) = A and op(A) = A^T with
 * op(B) = B, beta 0 and 1, are gemm_direct's documented sums bit for bit (the model above: the
 * pieces change no bit), on one thread as on two, the padding of C untouched; op(B) = B^T (the
 * weights stored (N, K)) and alpha 2 go to OpenBLAS and stay within float error of double sums.
 * Rows and columns split (M >= N and M < N), tails of tiles. */
static void test_sgemm_direct(void **state)
{
    (void)state;
    if (!gemm_direct_applies()) skip(); /* no AVX-512: rp_sgemm is OpenBLAS's, tested through the layers */
    static const gd_case SG[] = {{256, 160, 96}, {64, 200, 130}, {50, 31, 7}, {7, 90, 600}, {100, 96, 24}};
    const int keep = omp_get_max_threads();
    for (size_t t = 0; t < sizeof SG / sizeof SG[0]; t++) {
        gd_data d;
        make(&d, &SG[t], 1700 + 10 * t);
        const int M = d.M, N = d.N, K = d.K;
        size_t nc = (size_t)M * d.ldc;
        float *want = malloc(nc * sizeof(float)), *got = malloc(nc * sizeof(float));
        float *one = malloc(nc * sizeof(float)), *bt = malloc((size_t)N * K * sizeof(float));
        assert_true(want && got && one && bt);
        for (int tn = 0; tn < 2; tn++)
            for (int acc = 0; acc < 2; acc++) {
                memcpy(want, d.C0, nc * sizeof(float));
                model(want, &d, tn, acc);
                for (int th = 0; th < 2; th++) {
                    float *c = th ? one : got;
                    omp_set_num_threads(th ? 1 : (keep > 1 ? keep : 2));
                    memcpy(c, d.C0, nc * sizeof(float));
                    if (tn)
                        rp_sgemm(CblasTrans, CblasNoTrans, M, N, K, 1.0f, d.At, (int)d.lda_tn, d.B, (int)d.ldb,
                                 (float)acc, c, (int)d.ldc);
                    else
                        rp_sgemm(CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, d.A, (int)d.lda_nn, d.B, (int)d.ldb,
                                 (float)acc, c, (int)d.ldc);
                }
                omp_set_num_threads(keep);
                if (memcmp(got, want, nc * sizeof(float)))
                    fail_msg("case %zu (M %d N %d K %d) %s beta %d: not gemm_direct's sums (or padding written)", t, M,
                             N, K, tn ? "tn" : "nn", acc);
                if (memcmp(one, got, nc * sizeof(float)))
                    fail_msg("case %zu %s beta %d: one thread gives other bits", t, tn ? "tn" : "nn", acc);
            }
        /* B^T and alpha 2: OpenBLAS */
        for (int k = 0; k < K; k++)
            for (int j = 0; j < N; j++) bt[(size_t)j * K + k] = d.B[(size_t)k * d.ldb + j];
        memcpy(got, d.C0, nc * sizeof(float));
        rp_sgemm(CblasNoTrans, CblasTrans, M, N, K, 1.0f, d.A, (int)d.lda_nn, bt, K, 1.0f, got, (int)d.ldc);
        expect_sums("nt", t, got, &d, false, true, 1.0f);
        memcpy(got, d.C0, nc * sizeof(float));
        rp_sgemm(CblasNoTrans, CblasNoTrans, M, N, K, 2.0f, d.A, (int)d.lda_nn, d.B, (int)d.ldb, 0.0f, got, (int)d.ldc);
        expect_sums("alpha 2", t, got, &d, false, false, 2.0f);
        free(want), free(got), free(one), free(bt);
        release(&d);
    }
}

/* Which weight gradients take BF16 operands (gemm_direct_bf16_tn_pays): the whole product's
 * shape decides, never a thread's piece of it. A pointwise conv's weight gradient
 * (conv2d_slots_backward: pieces per thread along dw's larger side) and rp_sgemm's A^T B with
 * BF16 on: narrow products (dw 24 x 96; 96 x 64) give the FP32 product's bits; wide ones (dw
 * 64 x 160; 160 x 320) give other bits (their operands were rounded), the same on one thread
 * as on two (two threads split dw's 160 columns into 80s, below the rule's 144 on their own). */
static void test_bf16_weight_grad_route(void **state)
{
    (void)state;
    if (!gemm_direct_bf16_supported()) skip(); /* no AVX512_BF16 here: reported as not run */
    assert_true(gemm_direct_set_bf16(true));
    assert_false(gemm_direct_bf16_tn_pays(24, 96));
    assert_false(gemm_direct_bf16_tn_pays(384, 96));
    assert_true(gemm_direct_bf16_tn_pays(32, 144));
    assert_true(gemm_direct_bf16_tn_pays(64, 384));
    const int keep = omp_get_max_threads(), two = keep > 1 ? keep : 2;
    static const int CONVS[][3] = {{96, 24, 0}, {160, 64, 1}, {96, 64, 0}, {320, 160, 1}}; /* C, OC, BF16 */
    for (int t = 0; t < 4; t++) {
        const int C = CONVS[t][0], OC = CONVS[t][1], wide = CONVS[t][2];
        const bool conv = t < 2;
        conv2d_shape s = conv2d_shape_make(4, 8, 8, C, OC, 1, 1, 0, 1);
        const int rows = 4 * 8 * 8, M = conv ? OC : C, N = conv ? C : OC; /* dw (OC, C); sgemm (C, OC) */
        float *x = malloc((size_t)rows * C * sizeof *x), *dy = malloc((size_t)rows * OC * sizeof *dy);
        float *scratch = malloc((conv2d_slots_scratch_floats(&s) + 64) * sizeof *scratch);
        float *got[3];
        assert_true(x && dy && scratch);
        uint32_t r = 12345u + (uint32_t)t;
        for (int i = 0; i < rows * C; i++) x[i] = (float)((r = r * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
        for (int i = 0; i < rows * OC; i++) dy[i] = (float)((r = r * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
        for (int v = 0; v < 3; v++) { /* FP32; BF16 on two threads; BF16 on one */
            assert_true(gemm_direct_set_bf16(v > 0));
            omp_set_num_threads(v == 2 ? 1 : two);
            assert_non_null(got[v] = calloc((size_t)M * N, sizeof *got[v]));
            if (conv)
                conv2d_slots_backward(NULL, got[v], NULL, dy, x, NULL, &s, scratch, false);
            else /* (C, OC) = x^T dy, as a linear layer's weight gradient */
                rp_sgemm(CblasTrans, CblasNoTrans, M, N, rows, 1.0f, x, C, dy, OC, 0.0f, got[v], N);
        }
        omp_set_num_threads(keep);
        const size_t bytes = (size_t)M * N * sizeof(float);
        if (wide && !memcmp(got[1], got[0], bytes)) fail_msg("%d x %d: FP32's bits with BF16 on", M, N);
        if (!wide && memcmp(got[1], got[0], bytes)) fail_msg("%d x %d: BF16 operands for a narrow product", M, N);
        if (memcmp(got[2], got[1], bytes)) fail_msg("%d x %d: one thread gives other bits", M, N);
        for (int v = 0; v < 3; v++) free(got[v]);
        free(x), free(dy), free(scratch);
    }
    assert_true(gemm_direct_set_bf16(false));
}

/* Sizes below a tile, across tile edges, and large enough for the threads. */
static void test_transpose(void **state)
{
    (void)state;
    const int sizes[][2] = {{7, 5}, {33, 70}, {300, 250}};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        int N = sizes[t][0], K = sizes[t][1];
        float *b = malloc((size_t)N * K * sizeof *b), *bt = malloc((size_t)N * K * sizeof *bt);
        for (int i = 0; i < N * K; i++) b[i] = (float)i, bt[i] = NAN;
        gemm_direct_transpose(bt, b, N, K);
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++) assert_true(bt[(size_t)k * N + n] == b[(size_t)n * K + k]);
        free(b), free(bt);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_direct),
        cmocka_unit_test(test_gemm_direct_bf16),
        cmocka_unit_test(test_gemm_direct_epilogue),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_sgemm_direct),
        cmocka_unit_test(test_bf16_weight_grad_route),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
