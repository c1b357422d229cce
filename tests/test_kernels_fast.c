/* Optimised kernels against the reference kernels, op by op, at every SIMD level the CPU
 * has (portable, AVX2, AVX-512) and with 1 and 2 threads.
 *
 *  - elementwise and pooling fast paths do the reference's float operations in the same
 *    order: compared BIT FOR BIT (NaN, +-0, ties and infinities included);
 *  - conv2d fast paths (slots, direct) sum in another order than the im2col reference:
 *    y and dx (sums of at most a few hundred products of size <= 1) at atol = rtol = 1e-5;
 *    dw and db sum over every output pixel of the batch (up to ~4,000 terms): atol = rtol
 *    = 1e-5 per 100 terms; and bit for bit between thread counts and between SIMD levels
 *    that use the same GEMM kernels (the sum order is fixed): OpenBLAS below AVX-512,
 *    gemm_direct at it. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/activation.h"
#include "kernels/actmask.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/cpu.h"
#include "kernels/gemm_direct.h"
#include "kernels/linear.h"
#include "kernels/pool.h"
#include "kernels/transpose.h"
#include "nn/model.h"
#include "testutil.h"

static const rp_simd LEVELS[] = {RP_SIMD_PORTABLE, RP_SIMD_AVX2, RP_SIMD_AVX512};
enum { N_LEVELS = 3 };

/* Values that exercise every branch: signs, zeros of both signs, the ReLU6 kinks, NaN, inf. */
static void fill_special(float *x, size_t n, size_t first, uint64_t seed)
{
    static const float special[] = {0.0f, -0.0f, 6.0f, 5.999999f, 6.000001f, 1e-30f, -1e-30f,
                                    INFINITY, -INFINITY, NAN, 1.0f, -1.0f};
    tu_fill_uniform(x, n, -8.0f, 8.0f, seed);
    for (size_t i = first; i < n; i += 7) x[i] = special[(i / 7) % (sizeof special / sizeof special[0])];
}

static float *floats(size_t n)
{
    float *p = malloc(n * sizeof *p + 64);
    assert_non_null(p);
    return p;
}

/* Force level l; the level in use comes back (the CPU may lack l: the callers then skip that
 * level, and main() reports it as not run rather than passed). */
static bool ran[N_LEVELS];
static rp_simd use_level(rp_simd l)
{
    rp_simd got = rp_simd_force(l);
    if (got == l) ran[l] = true;
    return got;
}

typedef void (*act_fwd)(float *, const float *, size_t);
typedef void (*act_bwd)(float *, const float *, const float *, size_t);

static void check_activation(const char *what, act_fwd fast_f, act_fwd ref_f, act_bwd fast_b,
                             act_bwd ref_b)
{
    /* sizes: shorter than a vector, odd, several blocks, and above the threading threshold */
    const size_t sizes[] = {1, 15, 17, 1001, 8192 * 3 + 5, 100003};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        float *x = floats(n), *dy = floats(n), *yr = floats(n), *y = floats(n);
        float *dxr = floats(n), *dx = floats(n);
        fill_special(x, n, 0, 10 + k);
        fill_special(dy, n, 3, 20 + k); /* other positions than x's */
        tu_fill_uniform(dxr, n, -1.0f, 1.0f, 30 + k);
        dxr[0] = -0.0f; /* -0 + +0 = +0: the fast path must add the zero too */
        ref_f(yr, x, n);
        ref_b(dxr, dy, x, n);
        for (int l = 0; l < N_LEVELS; l++)
            for (int t = 1; t <= 2; t++) {
                if (use_level(LEVELS[l]) != LEVELS[l]) continue;
                omp_set_num_threads(t);
                tu_fill_uniform(dx, n, -1.0f, 1.0f, 30 + k);
                dx[0] = -0.0f;
                fast_f(y, x, n);
                fast_b(dx, dy, x, n);
                if (memcmp(y, yr, n * sizeof *y) || memcmp(dx, dxr, n * sizeof *dx))
                    fail_msg("%s: n=%zu level %s threads %d differs from the reference", what, n,
                             rp_simd_name(rp_simd_level()), t);
            }
        free(x); free(dy); free(yr); free(y); free(dxr); free(dx);
    }
    rp_simd_force(RP_SIMD_AVX512);
}

static void test_relu_bitwise(void **state)
{
    (void)state;
    check_activation("relu", relu_forward, relu_forward_ref, relu_backward, relu_backward_ref);
}

static void test_relu6_bitwise(void **state)
{
    (void)state;
    check_activation("relu6", relu6_forward, relu6_forward_ref, relu6_backward, relu6_backward_ref);
}

/* The transpose (flatten's permutation): every mode against the element loop, bit for bit, with
 * -0 (which the written-into-zeros mode turns to +0) and NaN, at sizes with and without edges. */
static void test_transpose_bitwise(void **state)
{
    (void)state;
    const int sizes[][2] = {{49, 64}, {64, 49}, {8, 8}, {16, 24}, {13, 17}, {7, 5}, {1, 9}, {9, 1}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int R = sizes[k][0], C = sizes[k][1];
        size_t n = (size_t)R * C;
        float *src = floats(n), *got = floats(n), *want = floats(n), *init = floats(n);
        tu_fill_uniform(src, n, -2.0f, 2.0f, 60 + k);
        tu_fill_uniform(init, n, -1.0f, 1.0f, 70 + k);
        for (size_t i = 0; i < n; i += 7) src[i] = -0.0f;
        for (size_t i = 3; i < n; i += 11) src[i] = NAN;
        for (int mode = 0; mode < 3; mode++) {
            memcpy(want, init, n * sizeof *want);
            for (int r = 0; r < R; r++)
                for (int c = 0; c < C; c++) {
                    float v = src[(size_t)r * C + c], *d = &want[(size_t)c * R + r];
                    *d = mode == TRANSPOSE_WRITE ? v : mode == TRANSPOSE_WRITE_ZERO ? 0.0f + v : *d + v;
                }
            for (int l = 0; l < N_LEVELS; l++) {
                if (use_level(LEVELS[l]) != LEVELS[l]) continue;
                memcpy(got, init, n * sizeof *got);
                transpose_f32(got, src, R, C, (transpose_mode)mode);
                if (memcmp(got, want, n * sizeof *got))
                    fail_msg("transpose %dx%d mode %d level %s differs from the element loop", R, C, mode,
                             rp_simd_name(rp_simd_level()));
            }
        }
        free(src); free(got); free(want); free(init);
    }
    rp_simd_force(RP_SIMD_AVX512);
}

/* Max-pool: values and argmax bit for bit, with ties (a coarse grid), NaN and -inf. */
static void test_maxpool_bitwise(void **state)
{
    (void)state;
    const int cfg[][7] = {/* B, H, W, C, K, stride, pad */
                          {3, 28, 28, 32, 2, 2, 0}, {2, 7, 9, 5, 3, 2, 1}, {2, 8, 8, 17, 3, 1, 1},
                          {1, 5, 6, 3, 2, 1, 0}, {2, 9, 7, 40, 3, 3, 1}, {2, 9, 7, 21, 2, 2, 0}};
    for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
        const int *c = cfg[k];
        pool2d_shape s = pool2d_shape_make(c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
        size_t nx = (size_t)s.B * s.H * s.W * s.C, ny = (size_t)s.B * s.OH * s.OW * s.C;
        float *x = floats(nx), *yr = floats(ny), *y = floats(ny);
        int32_t *ar = malloc(ny * sizeof *ar), *a = malloc(ny * sizeof *a);
        tu_fill_uniform(x, nx, -2.0f, 2.0f, 40 + k);
        for (size_t i = 0; i < nx; i++) x[i] = roundf(x[i] * 2.0f) / 2.0f; /* many ties */
        for (size_t i = 3; i < nx; i += 29) x[i] = NAN;
        for (size_t i = 5; i < nx; i += 31) x[i] = -INFINITY;
        maxpool2d_forward_ref(yr, ar, x, &s);
        for (int l = 0; l < N_LEVELS; l++)
            for (int t = 1; t <= 2; t++) {
                if (use_level(LEVELS[l]) != LEVELS[l]) continue;
                omp_set_num_threads(t);
                maxpool2d_forward(y, a, x, &s);
                if (memcmp(y, yr, ny * sizeof *y) || memcmp(a, ar, ny * sizeof *a))
                    fail_msg("maxpool case %zu level %s threads %d differs from the reference", k,
                             rp_simd_name(rp_simd_level()), t);
            }
        free(x); free(yr); free(y); free(ar); free(a);
    }
    rp_simd_force(RP_SIMD_AVX512);
}

/* Max-pool backward, alone and through a ReLU / ReLU6: the one-pass path for windows that tile
 * the input against the zero-and-scatter reference, bit for bit, written and accumulated, with
 * rows and columns no window covers (odd sizes), ties, NaN and -inf in x. */
static void test_maxpool_backward_bitwise(void **state)
{
    (void)state;
    const int cfg[][5] = {/* B, H, W, C, K (= stride, pad 0) */
                          {3, 28, 28, 32, 2}, {2, 7, 9, 5, 2}, {2, 9, 8, 17, 3}, {1, 5, 7, 40, 2}};
    for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
        const int *c = cfg[k];
        pool2d_shape s = pool2d_shape_make(c[0], c[1], c[2], c[3], c[4], c[4], 0);
        size_t nx = (size_t)s.B * s.H * s.W * s.C, ny = (size_t)s.B * s.OH * s.OW * s.C;
        float *x = floats(nx), *y = floats(ny), *dy = floats(ny), *want = floats(nx), *got = floats(nx);
        int32_t *a = malloc(ny * sizeof *a);
        tu_fill_uniform(x, nx, -3.0f, 9.0f, 70 + k); /* pool outputs below 0, in (0, 6) and above 6 */
        for (size_t i = 0; i < nx; i++) x[i] = roundf(x[i] * 2.0f) / 2.0f; /* ties */
        for (size_t i = 3; i < nx; i += 29) x[i] = NAN;
        for (size_t i = 5; i < nx; i += 31) x[i] = -INFINITY;
        tu_fill_uniform(dy, ny, -1.0f, 1.0f, 80 + k);
        maxpool2d_forward_ref(y, a, x, &s);
        for (int act = 0; act <= ACT_RELU6; act++)
            for (int acc = 0; acc <= 1; acc++)
                for (int l = 0; l < N_LEVELS; l++)
                    for (int t = 1; t <= 2; t++) {
                        if (use_level(LEVELS[l]) != LEVELS[l]) continue;
                        omp_set_num_threads(t);
                        tu_fill_uniform(want, nx, -1.0f, 1.0f, 90 + k);
                        memcpy(got, want, nx * sizeof *got);
                        if (!acc)
                            for (size_t i = 0; i < nx; i++) got[i] = NAN; /* every element written */
                        maxpool2d_backward_act_ref(want, dy, a, y, &s, acc, (act_kind)act);
                        maxpool2d_backward_act(got, dy, a, y, &s, acc, (act_kind)act);
                        if (memcmp(got, want, nx * sizeof *got))
                            fail_msg("maxpool backward case %zu act %d acc %d level %s threads %d differs from the "
                                     "reference", k, act, acc, rp_simd_name(rp_simd_level()), t);
                    }
        free(x); free(y); free(dy); free(want); free(got); free(a);
    }
    rp_simd_force(RP_SIMD_AVX512);
}

/* Batch norm: train and eval forward (outputs, saved statistics, running statistics) and
 * backward (dx, dgamma, dbeta), bit for bit. */
static void check_batchnorm(size_t N, int C, size_t P, uint64_t seed)
{
    size_t n = N * (size_t)C;
    double *work = malloc(batchnorm_work_doubles(C, N / P) * sizeof *work);
    float *x = floats(n), *dy = floats(n), *g = floats((size_t)C), *be = floats((size_t)C);
    float *ref[2], *out[2]; /* y, mean, invstd, rmean, rvar, dx, dgamma, dbeta */
    size_t len = 2 * n + 6 * (size_t)C;
    for (int i = 0; i < 2; i++) {
        ref[i] = floats(len);
        out[i] = floats(len);
    }
    tu_fill_uniform(x, n, -3, 5, seed);
    tu_fill_uniform(dy, n, -1, 1, seed + 1);
    tu_fill_uniform(g, (size_t)C, 0.5f, 1.5f, seed + 2);
    tu_fill_uniform(be, (size_t)C, -1, 1, seed + 3);
    for (int level = -1; level < N_LEVELS; level++)
        for (int t = 1; t <= 2; t++) {
            if (level < 0 && t == 2) continue;
            if (level >= 0 && use_level(LEVELS[level]) != LEVELS[level]) continue;
            omp_set_num_threads(t);
            for (int train = 0; train < 2; train++) {
                float *o = level < 0 ? ref[train] : out[train];
                float *y = o, *mean = o + n, *inv = mean + C, *rm = inv + C, *rv = rm + C;
                float *dx = rv + C, *dg = dx + n, *db = dg + C;
                tu_fill_uniform(rm, (size_t)C, -0.5f, 0.5f, seed + 4);
                tu_fill_uniform(rv, (size_t)C, 0.5f, 2.0f, seed + 5);
                tu_fill_uniform(dx, n + 2 * (size_t)C, -1, 1, seed + 6);
                if (level < 0 && train)
                    batchnorm_forward_train_ref(y, mean, inv, rm, rv, x, g, be, N, C, P, 1e-5f, 0.1f, work);
                else if (level < 0)
                    batchnorm_forward_eval_ref(y, mean, inv, rm, rv, x, g, be, N, C, 1e-5f);
                else if (train)
                    batchnorm_forward_train(y, mean, inv, rm, rv, x, g, be, N, C, P, 1e-5f, 0.1f, work);
                else
                    batchnorm_forward_eval(y, mean, inv, rm, rv, x, g, be, N, C, 1e-5f);
                if (level < 0)
                    batchnorm_backward_ref(dx, dg, db, dy, x, mean, inv, g, N, C, train, work);
                else
                    batchnorm_backward(dx, dg, db, dy, x, mean, inv, g, N, C, train, work);
                if (level >= 0 && memcmp(out[train], ref[train], len * sizeof(float)))
                    fail_msg("batchnorm N=%zu C=%d P=%zu train=%d level %s threads %d differs from the reference",
                             N, C, P, train, rp_simd_name(rp_simd_level()), t);
            }
        }
    rp_simd_force(RP_SIMD_AVX512);
    for (int i = 0; i < 2; i++) { free(ref[i]); free(out[i]); }
    free(work); free(x); free(dy); free(g); free(be);
}

/* batchnorm_backward_act (a ReLU/ReLU6's backward folded in) = the activation's reference
 * backward into a fresh buffer, then the reference batch-norm backward; bit for bit, at every
 * SIMD level and thread count, with outputs at and around the clips 0 and 6. */
static void check_batchnorm_act(size_t N, int C, uint64_t seed)
{
    size_t n = N * (size_t)C;
    double *work = malloc(batchnorm_work_doubles(C, 1) * sizeof *work);
    float *x = floats(n), *v = floats(n), *g = floats(n), *gm = floats(n), *gamma = floats((size_t)C);
    float *mean = floats((size_t)C), *inv = floats((size_t)C), *ref = floats(n + 2 * (size_t)C),
          *out = floats(n + 2 * (size_t)C);
    uint8_t *bits = malloc(N * act_mask_row_bytes(C));
    tu_fill_uniform(x, n, -3, 5, seed);
    tu_fill_uniform(v, n, -1, 7, seed + 1);
    for (size_t i = 0; i < n; i += 7) v[i] = (i / 7) % 2 ? 6.0f : 0.0f;
    tu_fill_uniform(g, n, -1, 1, seed + 2);
    tu_fill_uniform(gamma, (size_t)C, 0.5f, 1.5f, seed + 3);
    tu_fill_uniform(mean, (size_t)C, -0.5f, 0.5f, seed + 4);
    tu_fill_uniform(inv, (size_t)C, 0.5f, 2.0f, seed + 5);
    for (int act = ACT_RELU; act <= ACT_RELU6; act++)
        for (int train = 0; train < 2; train++)
            for (int acc = 0; acc < 2; acc++) {
                memset(gm, 0, n * sizeof *gm);
                if (act == ACT_RELU) relu_backward_ref(gm, g, v, n);
                else relu6_backward_ref(gm, g, v, n);
                tu_fill_uniform(ref, n + 2 * (size_t)C, -1, 1, seed + 6);
                if (!acc) memset(ref, 0, n * sizeof *ref);
                batchnorm_backward_ref(ref, ref + n, ref + n + C, gm, x, mean, inv, gamma, N, C, train, work);
                for (int level = 0; level < N_LEVELS; level++)
                    for (int t = 1; t <= 2; t++)
                        for (int use_bits = 0; use_bits < 2; use_bits++) { /* the mask from v, or from its bits */
                            if (use_level(LEVELS[level]) != LEVELS[level]) continue;
                            omp_set_num_threads(t);
                            act_mask_pack(bits, v, N, C, act == ACT_RELU6 ? ACT_RELU6 : ACT_RELU);
                            tu_fill_uniform(out, n + 2 * (size_t)C, -1, 1, seed + 6);
                            batchnorm_backward_act(out, out + n, out + n + C, g, use_bits ? NULL : v,
                                                   use_bits ? bits : NULL, act, x, mean, inv, gamma, N, C, train,
                                                   work, acc);
                            if (memcmp(out, ref, (n + 2 * (size_t)C) * sizeof(float)))
                                fail_msg("batchnorm+act %d N=%zu C=%d train=%d acc=%d bits=%d level %s threads %d "
                                         "differs", act, N, C, train, acc, use_bits, rp_simd_name(rp_simd_level()), t);
                        }
            }
    /* evaluation without parameter gradients (an attack's pass through a chain): the mask from
     * bits gives the bits that act_y gives */
    for (int act = ACT_RELU; act <= ACT_RELU6; act++)
        for (int level = 0; level < N_LEVELS; level++) {
            if (use_level(LEVELS[level]) != LEVELS[level]) continue;
            act_mask_pack(bits, v, N, C, act == ACT_RELU6 ? ACT_RELU6 : ACT_RELU);
            float *k1 = floats((size_t)C);
            batchnorm_eval_k1(k1, gamma, inv, C);
            batchnorm_backward_act(ref, NULL, NULL, g, v, NULL, act, x, mean, inv, gamma, N, C, 0, work, false);
            for (size_t i = 0; i < n; i++) out[i] = NAN;
            batchnorm_eval_dx_rows(out, g, NULL, bits, act, k1, N, C, false);
            if (memcmp(out, ref, n * sizeof(float)))
                fail_msg("batchnorm eval dx from bits, act %d N=%zu C=%d level %s differs", act, N, C,
                         rp_simd_name(rp_simd_level()));
            free(k1);
        }
    rp_simd_force(RP_SIMD_AVX512);
    free(work); free(x); free(v); free(g); free(gm); free(gamma); free(mean); free(inv); free(ref); free(out);
    free(bits);
}

static void test_batchnorm_bitwise(void **state)
{
    (void)state;
    check_batchnorm(7, 5, 1, 60);        /* fewer rows than chunks; samples of one row */
    check_batchnorm(7, 5, 7, 60);        /* one sample */
    check_batchnorm(2 * 28 * 28, 1, 28 * 28, 61);
    check_batchnorm(3 * 7 * 9, 17, 7 * 9, 62);
    check_batchnorm(2 * 32 * 32, 96, 32 * 32, 63); /* above the threading threshold */
    check_batchnorm(4 * 2 * 2, 1280, 2 * 2, 64);
    check_batchnorm(3 * 5 * 5, 24, 5 * 5, 67);     /* the sums' register blocks of 2 and 1 vectors */
    check_batchnorm_act(3 * 7 * 9, 17, 65);
    check_batchnorm_act(2 * 32 * 32, 96, 66);
    check_batchnorm_act(3 * 5 * 5, 27, 68); /* the masked sums' whole, half-vector and single-channel blocks */
    check_batchnorm_act(4 * 2 * 2, 1280, 67); /* more channels than the 256-channel buffer */
}

/* Conv2d ----------------------------------------------------------------------------------- */

typedef struct conv_case {
    int B, H, W, C, OC, K, stride, pad, groups;
    bool bias;
} conv_case;

/* The path each case must take through conv2d_forward/backward. */
enum { PATH_SLOTS, PATH_DIRECT, PATH_WINOGRAD };

typedef struct conv_run {
    float *y, *dx, *dw, *db;
} conv_run;

static void conv_run_alloc(conv_run *r, size_t ny, size_t nx, size_t nw, int OC)
{
    r->y = floats(ny);
    r->dx = floats(nx);
    r->dw = floats(nw);
    r->db = floats((size_t)OC);
}

static void conv_run_free(conv_run *r)
{
    free(r->y); free(r->dx); free(r->dw); free(r->db);
}

/* Backward starts from non-zero gradients: every path must accumulate. */
static void seed_grads(conv_run *r, size_t nx, size_t nw, int OC)
{
    for (size_t i = 0; i < nx; i++) r->dx[i] = 0.5f;
    for (size_t i = 0; i < nw; i++) r->dw[i] = -0.25f;
    for (int i = 0; i < OC; i++) r->db[i] = 2.0f;
}

static void check_conv(const conv_case *c, int path)
{
    conv2d_shape s = conv2d_shape_make(c->B, c->H, c->W, c->C, c->OC, c->K, c->stride, c->pad,
                                       c->groups);
    if (path == PATH_DIRECT) assert_true(conv2d_uses_direct(&s));
    else if (path == PATH_WINOGRAD) assert_true(conv2d_uses_winograd(&s) == gemm_direct_applies());
    else assert_true(conv2d_uses_slots(&s) && !conv2d_uses_direct(&s) && !conv2d_uses_winograd(&s));
    size_t nx = (size_t)s.B * s.H * s.W * s.C, ny = (size_t)s.B * s.OH * s.OW * s.OC;
    size_t nw = (size_t)s.OC * s.K * s.K * (s.C / s.groups);
    size_t ns = conv2d_scratch_floats(&s), ng = conv2d_gemm_scratch_floats(&s);
    float *x = floats(nx), *w = floats(nw), *b = floats((size_t)s.OC), *dy = floats(ny);
    float *scratch = floats(ns > ng ? ns : ng);
    tu_fill_uniform(x, nx, -1, 1, 50);
    tu_fill_uniform(w, nw, -1, 1, 51);
    tu_fill_uniform(b, (size_t)s.OC, -1, 1, 52);
    tu_fill_uniform(dy, ny, -1, 1, 53);
    const float *bias = c->bias ? b : NULL;
    float terms = (float)s.B * s.OH * s.OW, tol_sum = 1e-5f * (terms > 100.0f ? terms / 100.0f : 1.0f);
    /* y and dx: sums of K*K*C/groups and K*K*OC/groups products, rounding growing with their
     * count (1e-5 up to smallcnn's conv2's 288) */
    float ny_terms = (float)(s.K * s.K * s.C / s.groups), nx_terms = (float)(s.K * s.K * s.OC / s.groups);
    float tol_y = 1e-5f * (ny_terms > 288.0f ? ny_terms / 288.0f : 1.0f);
    float tol_x = 1e-5f * (nx_terms > 288.0f ? nx_terms / 288.0f : 1.0f);
    /* first[f]: the first run with GEMM kernel family f (0: OpenBLAS, 1: gemm_direct, at the
     * AVX-512 level): runs of one family agree bit for bit, across families to rounding */
    conv_run ref, first[2], r;
    bool have[2] = {false, false};
    conv_run_alloc(&ref, ny, nx, nw, s.OC);
    conv_run_alloc(&first[0], ny, nx, nw, s.OC);
    conv_run_alloc(&first[1], ny, nx, nw, s.OC);
    conv_run_alloc(&r, ny, nx, nw, s.OC);
    conv2d_gemm_forward(ref.y, x, w, bias, &s, scratch);
    seed_grads(&ref, nx, nw, s.OC);
    conv2d_gemm_backward(ref.dx, ref.dw, ref.db, dy, x, w, &s, scratch);
    for (int l = 0; l < N_LEVELS; l++)
        for (int t = 1; t <= 2; t++) {
            if (use_level(LEVELS[l]) != LEVELS[l]) continue;
            omp_set_num_threads(t);
            int f = gemm_direct_applies();
            conv_run *o = have[f] ? &r : &first[f];
            conv2d_forward(o->y, x, w, bias, &s, scratch, NULL);
            seed_grads(o, nx, nw, s.OC);
            conv2d_backward(o->dx, o->dw, o->db, dy, x, w, &s, scratch, true);
            tu_assert_close("conv y vs reference", o->y, ref.y, ny, 1e-5f, tol_y);
            tu_assert_close("conv dx vs reference", o->dx, ref.dx, nx, 1e-5f, tol_x);
            tu_assert_close("conv dw vs reference", o->dw, ref.dw, nw, tol_sum, tol_sum);
            tu_assert_close("conv db vs reference", o->db, ref.db, (size_t)s.OC, tol_sum, tol_sum);
            if (o != &r) {
                have[f] = true;
                continue;
            }
            assert_memory_equal(r.y, first[f].y, ny * sizeof(float));
            assert_memory_equal(r.dx, first[f].dx, nx * sizeof(float));
            assert_memory_equal(r.dw, first[f].dw, nw * sizeof(float));
        }
    /* dx == NULL (first layers) and dw == NULL (attacks) skip just that output */
    int f = gemm_direct_applies();
    seed_grads(&r, nx, nw, s.OC);
    conv2d_backward(NULL, r.dw, NULL, dy, x, w, &s, scratch, true);
    assert_memory_equal(r.dw, first[f].dw, nw * sizeof(float));
    seed_grads(&r, nx, nw, s.OC);
    conv2d_backward(r.dx, NULL, NULL, dy, x, w, &s, scratch, true);
    assert_memory_equal(r.dx, first[f].dx, nx * sizeof(float));
    rp_simd_force(RP_SIMD_AVX512);
    conv_run_free(&ref); conv_run_free(&first[0]); conv_run_free(&first[1]); conv_run_free(&r);
    free(x); free(w); free(b); free(dy); free(scratch);
}

static void test_conv_slots(void **state)
{
    (void)state;
    const conv_case cases[] = {
        /* B  H  W  C  OC K  s  p  g  bias */
        {3, 7, 6, 3, 5, 3, 2, 1, 1, false},    /* stride 2, odd sizes */
        {4, 6, 7, 4, 6, 3, 1, 0, 2, true},     /* groups 2 */
        {2, 8, 6, 6, 4, 5, 2, 2, 2, true},     /* K 5, groups 2, stride 2 */
        {3, 5, 6, 4, 3, 1, 2, 0, 1, false},    /* 1x1 stride 2 */
        {19, 5, 5, 8, 8, 3, 1, 1, 1, true},    /* more samples than slots */
        {2, 9, 8, 12, 48, 3, 1, 1, 1, true},   /* kkc 108: the edge columns */
        {2, 7, 9, 40, 48, 3, 2, 1, 1, true},   /* kkc 360, stride 2 */
        {4, 8, 8, 16, 96, 1, 1, 0, 1, false},  /* pointwise: the input is the matrix */
        {3, 6, 5, 24, 20, 1, 1, 0, 1, true},   /* pointwise with bias */
        {3, 5, 4, 4, 6, 1, 1, 0, 2, true},     /* pointwise, groups 2 */
        {18, 4, 4, 32, 16, 1, 1, 0, 1, false}, /* pointwise, more samples than slots */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) check_conv(&cases[k], PATH_SLOTS);
}

/* Winograd F(2x2, 3x3) at the AVX-512 level (below it the slots path, or the reference for
 * large weights), against the reference to rounding: the transforms add and subtract before the
 * products. Slot mode and batch mode (one chunk and two). */
static void test_conv_winograd(void **state)
{
    (void)state;
    const conv_case cases[] = {
        /* B  H  W  C  OC K  s  p  g  bias */
        {5, 14, 14, 32, 64, 3, 1, 1, 1, true},  /* smallcnn conv2 */
        {2, 9, 8, 40, 48, 3, 1, 1, 1, true},    /* odd rows of tiles; channels not a multiple of 16 */
        {3, 7, 7, 16, 17, 3, 1, 0, 1, false},   /* pad 0, odd output; a scalar output channel */
        {2, 5, 6, 17, 16, 3, 1, 2, 1, true},    /* pad 2 (the input gradient's pad 0) */
        {19, 6, 5, 16, 16, 3, 1, 1, 1, false},  /* more samples than slots */
        {2, 12, 12, 64, 64, 3, 1, 1, 1, false}, /* resnet's first stage, small */
        {1, 3, 3, 24, 32, 3, 1, 1, 1, true},    /* one tile row of two, the second half outside */
        /* weights beyond the slots path: the batch in chunks, products shared among threads */
        {2, 7, 5, 128, 120, 3, 1, 0, 1, true},  /* one chunk, odd sizes, pad 0 */
        {9, 16, 16, 128, 128, 3, 1, 1, 1, false}, /* two chunks (8 samples, then 1) */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) check_conv(&cases[k], PATH_WINOGRAD);
    /* not taken: fewer than 4 tiles per sample, 15 channels, stride 2, groups */
    const conv_case not_taken[] = {{2, 2, 2, 64, 64, 3, 1, 1, 1, true},  {2, 8, 8, 15, 32, 3, 1, 1, 1, true},
                                   {2, 8, 8, 32, 32, 3, 2, 1, 1, true},  {2, 8, 8, 32, 32, 3, 1, 1, 2, true}};
    for (size_t k = 0; k < sizeof not_taken / sizeof not_taken[0]; k++) {
        const conv_case *c = &not_taken[k];
        conv2d_shape s = conv2d_shape_make(c->B, c->H, c->W, c->C, c->OC, c->K, c->stride, c->pad, c->groups);
        assert_false(conv2d_uses_winograd(&s));
    }
}

static void test_conv_direct(void **state)
{
    (void)state;
    const conv_case cases[] = {
        {5, 28, 28, 1, 32, 3, 1, 1, 1, true},  /* smallcnn conv1 */
        {3, 17, 16, 3, 32, 3, 2, 1, 1, false}, /* mobilenet_v2's first conv, odd size */
        {2, 9, 7, 2, 16, 3, 1, 2, 1, true},    /* pad 2 */
        {2, 8, 9, 1, 48, 5, 2, 2, 1, true},    /* K 5 */
        {20, 6, 5, 3, 16, 3, 3, 0, 1, true},   /* stride 3, more samples than slots */
        {2, 9, 7, 1, 48, 3, 1, 2, 1, true},    /* grayscale, pad 2: a pair of channel blocks, then one */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) check_conv(&cases[k], PATH_DIRECT);
}

/* Depthwise (multiplier 1): the fast kernels against the reference dwconv2d_*, bit for bit. */
static void test_depthwise_bitwise(void **state)
{
    (void)state;
    const conv_case cases[] = {
        /* B  H   W   C   OC  K  s  p  g   bias */
        {3, 16, 16, 96, 96, 3, 2, 1, 96, false}, /* mobilenet_v2 stride 2 */
        {2, 8, 8, 32, 32, 3, 1, 1, 32, true},
        {2, 7, 9, 20, 20, 3, 2, 1, 20, true},   /* a channel tail after 16 */
        {2, 9, 7, 16, 16, 5, 2, 2, 16, false},  /* K 5 */
        {1, 6, 5, 5, 5, 3, 1, 1, 5, true},      /* narrower than a block */
        {2, 8, 8, 48, 48, 7, 1, 3, 48, true},   /* K 7 */
        {2, 5, 21, 32, 32, 3, 1, 1, 32, true},  /* rows of several 4-pixel groups and a remainder */
        {2, 6, 23, 16, 16, 3, 2, 1, 16, false}, /* the same at stride 2 */
        {2, 7, 9, 80, 80, 3, 1, 1, 80, true},   /* 5 blocks: weight-gradient groups of 3 and 2; pixel-major rows */
        {19, 6, 5, 32, 32, 3, 1, 1, 32, false}, /* 16 chunks of samples, of 1 and 2 */
        {35, 5, 6, 20, 20, 5, 2, 2, 20, true},  /* chunks of 2 and 3, a channel tail */
        {1, 8, 8, 48, 48, 3, 1, 1, 48, false},  /* one chunk: threads split the channels */
        {2, 4, 4, 96, 96, 3, 1, 1, 96, true},   /* a row narrower than a quad; 6 blocks: 4 + 2 at a time */
        {3, 2, 3, 48, 48, 3, 1, 1, 48, false},  /* rows of 3 and 2 pixels, 3 blocks: 2 + 1 */
        {2, 5, 5, 112, 112, 3, 2, 1, 112, true}, /* stride 2, 7 blocks: 4 + 2 + 1 */
        {2, 7, 10, 16, 16, 3, 3, 1, 16, true},  /* stride 3 */
        {2, 3, 6, 32, 32, 3, 2, 0, 32, false},  /* stride 2 without padding */
        {2, 5, 6, 32, 32, 3, 1, 2, 32, true},   /* padding 2: taps two columns out */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const conv_case *c = &cases[k];
        conv2d_shape s = conv2d_shape_make(c->B, c->H, c->W, c->C, c->OC, c->K, c->stride, c->pad, c->groups);
        assert_true(dwconv2d_fast_applies(&s));
        size_t nx = (size_t)s.B * s.H * s.W * s.C, ny = (size_t)s.B * s.OH * s.OW * s.OC;
        size_t nw = (size_t)s.OC * s.K * s.K;
        float *x = floats(nx), *w = floats(nw), *b = floats((size_t)s.OC), *dy = floats(ny);
        float *scratch = floats(dwconv2d_scratch_floats(&s));
        tu_fill_uniform(x, nx, -1, 1, 70 + k);
        tu_fill_uniform(w, nw, -1, 1, 71 + k);
        tu_fill_uniform(b, (size_t)s.OC, -1, 1, 72 + k);
        tu_fill_uniform(dy, ny, -1, 1, 73 + k);
        const float *bias = c->bias ? b : NULL;
        conv_run ref, r;
        conv_run_alloc(&ref, ny, nx, nw, s.OC);
        conv_run_alloc(&r, ny, nx, nw, s.OC);
        dwconv2d_forward(ref.y, x, w, bias, &s, scratch);
        seed_grads(&ref, nx, nw, s.OC);
        dwconv2d_backward(ref.dx, ref.dw, ref.db, dy, x, w, &s, scratch);
        for (int l = 0; l < N_LEVELS; l++)
            for (int t = 1; t <= 3; t++) {
                if (use_level(LEVELS[l]) != LEVELS[l]) continue;
                omp_set_num_threads(t);
                conv2d_forward(r.y, x, w, bias, &s, scratch, NULL);
                seed_grads(&r, nx, nw, s.OC);
                conv2d_backward(r.dx, r.dw, r.db, dy, x, w, &s, scratch, true);
                if (memcmp(r.y, ref.y, ny * sizeof(float)) || memcmp(r.dx, ref.dx, nx * sizeof(float)) ||
                    memcmp(r.dw, ref.dw, nw * sizeof(float)) || memcmp(r.db, ref.db, (size_t)s.OC * sizeof(float)))
                    fail_msg("depthwise case %zu level %s threads %d differs from the reference", k,
                             rp_simd_name(rp_simd_level()), t);
            }
        rp_simd_force(RP_SIMD_AVX512);
        conv_run_free(&ref); conv_run_free(&r);
        free(x); free(w); free(b); free(dy); free(scratch);
    }
}

/* The depthwise conv's backward that forms the batch norm's input gradient a tile at a time
 * (dwconv2d_fast_backward_bn) against that gradient written by batchnorm_backward_dx and then
 * dwconv2d_fast_backward: the same input and weight gradients, bit for bit, written and added,
 * on 1-3 threads (chunks of 1-3 samples; fewer chunks than threads), at every SIMD level; and
 * the shapes it takes. */
static void test_depthwise_bn_bitwise(void **state)
{
    (void)state;
    /* B, H (= W), C, stride */
    static const int cases[][4] = {{5, 32, 16, 1}, {19, 32, 32, 1}, {3, 32, 64, 2}, {2, 16, 96, 1}, {35, 16, 64, 1},
                                   {17, 4, 96, 2}, {3, 2, 80, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int B = cases[k][0], H = cases[k][1], C = cases[k][2];
        conv2d_shape s = conv2d_shape_make(B, H, H, C, C, 3, cases[k][3], 1, C);
        assert_true(dwconv2d_fast_bn_applies(&s));
        size_t nx = (size_t)B * H * H * C, N = (size_t)B * s.OH * s.OW, ny = N * C, nw = (size_t)9 * C;
        size_t nbits = N * act_mask_row_bytes(C);
        float *x = floats(nx), *w = floats(nw), *y = floats(ny), *g = floats(ny), *gbn = floats(ny);
        float *mean = floats((size_t)C), *invstd = floats((size_t)C), *gamma = floats((size_t)C);
        float *dx[2] = {floats(nx), floats(nx)}, *dw[2] = {floats(nw), floats(nw)}, *dx0 = floats(nx);
        uint8_t *bits = malloc(nbits);
        double *work = malloc(batchnorm_work_doubles(C, (size_t)B) * sizeof *work);
        float *scratch = floats(dwconv2d_fast_bn_scratch_floats(&s, 3) + dwconv2d_scratch_floats(&s));
        tu_fill_uniform(x, nx, -1, 1, 300 + k);
        tu_fill_uniform(w, nw, -1, 1, 301 + k);
        tu_fill_uniform(y, ny, -2, 2, 302 + k);
        tu_fill_uniform(g, ny, -1, 1, 303 + k);
        tu_fill_uniform(mean, (size_t)C, -0.5f, 0.5f, 304 + k);
        tu_fill_uniform(invstd, (size_t)C, 0.5f, 2, 305 + k);
        tu_fill_uniform(gamma, (size_t)C, -2, 2, 306 + k);
        tu_fill_uniform(dx0, nx, -1, 1, 307 + k);
        for (size_t i = 0; i < nbits; i++) bits[i] = (uint8_t)(i * 2654435761u >> 13);
        for (int l = 0; l < N_LEVELS; l++)
            for (int t = 1; t <= 3; t++) {
                if (use_level(LEVELS[l]) != LEVELS[l]) continue;
                omp_set_num_threads(t);
                batchnorm_grad_sums(work, g, NULL, bits, ACT_RELU6, y, mean, N, C);
                const float *kc = batchnorm_dx_coeffs(work, invstd, gamma, C, 1, (double)N);
                batchnorm_backward_dx(gbn, g, NULL, bits, ACT_RELU6, y, mean, invstd, gamma, N, C, 1, true, (double)N,
                                      work, false);
                for (int acc = 0; acc < 2; acc++) {
                    for (int r = 0; r < 2; r++) {
                        if (acc) memcpy(dx[r], dx0, nx * sizeof(float));
                        else for (size_t i = 0; i < nx; i++) dx[r][i] = NAN; /* written, never read */
                        memcpy(dw[r], w, nw * sizeof(float));             /* added to */
                    }
                    dwconv2d_fast_backward(dx[0], dw[0], NULL, gbn, x, w, &s, scratch, acc);
                    dw_bn_grad m = {.g = g, .y = y, .mean = mean, .k = kc, .bits = bits};
                    dwconv2d_fast_backward_bn(dx[1], dw[1], &m, x, w, &s, scratch, t, acc);
                    if (memcmp(dx[0], dx[1], nx * sizeof(float)) || memcmp(dw[0], dw[1], nw * sizeof(float)))
                        fail_msg("depthwise + batch norm case %zu level %s threads %d acc %d: differs from the "
                                 "layer by layer backward", k, rp_simd_name(rp_simd_level()), t, acc);
                    /* either gradient alone */
                    memcpy(dw[1], w, nw * sizeof(float));
                    dwconv2d_fast_backward_bn(NULL, dw[1], &m, x, w, &s, scratch, t, acc);
                    assert_memory_equal(dw[0], dw[1], nw * sizeof(float));
                    if (acc) memcpy(dx[1], dx0, nx * sizeof(float));
                    dwconv2d_fast_backward_bn(dx[1], NULL, &m, x, w, &s, scratch, t, acc);
                    assert_memory_equal(dx[0], dx[1], nx * sizeof(float));
                }
            }
        rp_simd_force(RP_SIMD_AVX512);
        free(x); free(w); free(y); free(g); free(gbn); free(mean); free(invstd); free(gamma);
        free(dx[0]); free(dx[1]); free(dw[0]); free(dw[1]); free(dx0); free(bits); free(work); free(scratch);
    }
    omp_set_num_threads(2);
    /* where the plan takes it: 3x3, whole 16-channel blocks, a sample's tile up to 128K floats */
    conv2d_shape small = conv2d_shape_make(64, 2, 2, 960, 960, 3, 1, 1, 960);
    conv2d_shape tail = conv2d_shape_make(64, 32, 32, 24, 24, 3, 1, 1, 24);
    conv2d_shape large = conv2d_shape_make(64, 56, 56, 96, 96, 3, 1, 1, 96);
    conv2d_shape k5 = conv2d_shape_make(64, 32, 32, 32, 32, 5, 1, 2, 32);
    assert_true(dwconv2d_fast_bn_applies(&small));
    assert_false(dwconv2d_fast_bn_applies(&tail) || dwconv2d_fast_bn_applies(&large) || dwconv2d_fast_bn_applies(&k5));
}

/* Write mode (acc = false) ------------------------------------------------------------------ */

/* acc = false on a garbage-filled dx gives the bits of acc = true on a zeroed dx. */
static void check_write(const char *what, const float *wrote, const float *added, size_t n)
{
    if (memcmp(wrote, added, n * sizeof(float))) fail_msg("%s: write mode differs from zero + add", what);
}

static void test_write_mode_kernels(void **state)
{
    (void)state;
    size_t n = 3 * 7 * 9 * 40;
    float *x = floats(n), *dy = floats(n), *a = floats(n), *wbuf = floats(n);
    fill_special(x, n, 0, 80);
    fill_special(dy, n, 3, 81);
    memset(a, 0, n * sizeof *a);
    relu_backward(a, dy, x, n);
    for (size_t i = 0; i < n; i++) wbuf[i] = NAN;
    relu_backward_ex(wbuf, dy, x, n, false);
    check_write("relu", wbuf, a, n);
    memset(a, 0, n * sizeof *a);
    relu6_backward(a, dy, x, n);
    for (size_t i = 0; i < n; i++) wbuf[i] = NAN;
    relu6_backward_ex(wbuf, dy, x, n, false);
    check_write("relu6", wbuf, a, n);

    /* batch norm (train and eval): N = 3*7*9 rows of 40 channels */
    size_t N = 3 * 7 * 9;
    int C = 40;
    double *work = malloc(batchnorm_work_doubles(C, 3) * sizeof *work);
    float *g = floats((size_t)C), *be = floats((size_t)C), *st = floats(4 * (size_t)C), *y = floats(n);
    tu_fill_uniform(x, n, -2, 2, 82);
    tu_fill_uniform(dy, n, -1, 1, 83);
    tu_fill_uniform(g, (size_t)C, 0.5f, 1.5f, 84);
    tu_fill_uniform(be, (size_t)C, -1, 1, 85);
    tu_fill_uniform(st + 2 * C, 2 * (size_t)C, 0.5f, 1.0f, 86);
    for (int train = 0; train < 2; train++) {
        batchnorm_forward_train(y, st, st + C, st + 2 * C, st + 3 * C, x, g, be, N, C, 7 * 9, 1e-5f, 0.1f, work);
        memset(a, 0, n * sizeof *a);
        batchnorm_backward(a, NULL, NULL, dy, x, st, st + C, g, N, C, train, work);
        for (size_t i = 0; i < n; i++) wbuf[i] = NAN;
        batchnorm_backward_ex(wbuf, NULL, NULL, dy, x, st, st + C, g, N, C, train, work, false);
        check_write("batchnorm", wbuf, a, n);
    }

    /* max-pool 3x3 stride 2 pad 1 (overlapping windows) */
    pool2d_shape ps = pool2d_shape_make(3, 7, 9, 40, 3, 2, 1);
    size_t ny = (size_t)ps.B * ps.OH * ps.OW * ps.C;
    int32_t *am = malloc(ny * sizeof *am);
    maxpool2d_forward(y, am, x, &ps);
    memset(a, 0, n * sizeof *a);
    maxpool2d_backward(a, dy, am, &ps);
    for (size_t i = 0; i < n; i++) wbuf[i] = NAN;
    maxpool2d_backward_ex(wbuf, dy, am, &ps, false);
    check_write("maxpool", wbuf, a, n);

    /* linear (B = 3*7, IN = 9*40, OUT = 10) */
    float *w = floats(10 * 360);
    tu_fill_uniform(w, 3600, -1, 1, 87);
    memset(a, 0, n * sizeof *a);
    linear_backward(a, NULL, NULL, dy, x, w, 21, 360, 10);
    for (size_t i = 0; i < n; i++) wbuf[i] = NAN;
    linear_backward_ex(wbuf, NULL, NULL, dy, x, w, 21, 360, 10, false);
    check_write("linear", wbuf, a, 21 * 360);
    free(work); free(g); free(be); free(st); free(y); free(am); free(w);
    free(x); free(dy); free(a); free(wbuf);
}

/* One case per convolution path. */
static const conv_case PATH_CASES[] = {
    {3, 9, 8, 12, 20, 3, 1, 1, 1, true},    /* slots, im2col */
    {3, 9, 7, 16, 20, 3, 1, 1, 1, true},    /* Winograd (AVX-512), else slots */
    {3, 6, 5, 24, 20, 1, 1, 0, 1, false},   /* slots, pointwise */
    {3, 9, 9, 3, 32, 3, 2, 1, 1, true},     /* direct */
    {3, 8, 8, 32, 32, 3, 1, 1, 32, false},  /* depthwise fast */
    {3, 7, 6, 3, 6, 3, 2, 1, 3, true},      /* depthwise, multiplier 2: reference */
    {2, 4, 4, 64, 2100, 1, 1, 0, 1, false}, /* 134K weights: the reference path */
};

/* conv2d_backward's write mode (acc = false) on every path: slots (im2col, pointwise), Winograd, direct,
 * depthwise fast and reference (multiplier 2), the general reference (big weights). */
static void test_write_mode_conv(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof PATH_CASES / sizeof PATH_CASES[0]; k++) {
        const conv_case *c = &PATH_CASES[k];
        conv2d_shape s = conv2d_shape_make(c->B, c->H, c->W, c->C, c->OC, c->K, c->stride, c->pad, c->groups);
        size_t nx = (size_t)s.B * s.H * s.W * s.C, ny = (size_t)s.B * s.OH * s.OW * s.OC;
        size_t nw = (size_t)s.OC * s.K * s.K * (s.C / s.groups);
        float *x = floats(nx), *w = floats(nw), *dy = floats(ny), *a = floats(nx), *wb = floats(nx);
        float *scratch = floats(conv2d_scratch_floats(&s));
        tu_fill_uniform(x, nx, -1, 1, 90 + k);
        tu_fill_uniform(w, nw, -1, 1, 91 + k);
        tu_fill_uniform(dy, ny, -1, 1, 92 + k);
        memset(a, 0, nx * sizeof *a);
        conv2d_backward(a, NULL, NULL, dy, x, w, &s, scratch, true);
        for (size_t i = 0; i < nx; i++) wb[i] = NAN;
        conv2d_backward(wb, NULL, NULL, dy, x, w, &s, scratch, false);
        check_write("conv2d", wb, a, nx);
        free(x); free(w); free(dy); free(a); free(wb); free(scratch);
    }
}

/* conv2d_forward's epilogue on every path, bit for bit, at every SIMD level: an activation equals
 * conv2d_forward then the reference activation; a batch norm (and activation) equals
 * conv2d_forward then batchnorm_forward_eval_ex; the mask bits equal act_mask_pack of that
 * output; the batch-norm sums (where the path forms them) equal batchnorm_sample_sums of y per
 * sample. */
static void test_conv_act_epilogue(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof PATH_CASES / sizeof PATH_CASES[0]; k++) {
        const conv_case *c = &PATH_CASES[k];
        conv2d_shape s = conv2d_shape_make(c->B, c->H, c->W, c->C, c->OC, c->K, c->stride, c->pad, c->groups);
        size_t nx = (size_t)s.B * s.H * s.W * s.C, ny = (size_t)s.B * s.OH * s.OW * s.OC;
        size_t nw = (size_t)s.OC * s.K * s.K * (s.C / s.groups);
        float *x = floats(nx), *w = floats(nw), *b = floats((size_t)s.OC), *y = floats(ny);
        float *want = floats(ny), *got = floats(ny), *scratch = floats(conv2d_scratch_floats(&s));
        tu_fill_uniform(x, nx, -3, 3, 100 + k); /* outputs on both sides of 0 and 6 */
        tu_fill_uniform(w, nw, -1, 1, 101 + k);
        tu_fill_uniform(b, (size_t)s.OC, -1, 1, 102 + k);
        for (int act = ACT_RELU; act <= ACT_RELU6; act++) {
            conv2d_forward(y, x, w, c->bias ? b : NULL, &s, scratch, NULL);
            if (act == ACT_RELU) relu_forward_ref(want, y, ny);
            else relu6_forward_ref(want, y, ny);
            conv2d_forward(got, x, w, c->bias ? b : NULL, &s, scratch, &(conv_epilogue){.act = act});
            if (memcmp(got, want, ny * sizeof(float)))
                fail_msg("conv case %zu: forward with activation %d differs from forward then activation", k, act);
        }
        int OC = s.OC;
        float *bnp = floats(6 * (size_t)OC), *rm = bnp, *rv = rm + OC, *ga = rv + OC, *be = ga + OC, *mean = be + OC,
              *inv = mean + OC;
        tu_fill_uniform(rm, (size_t)OC, -0.5f, 0.5f, 103 + k);
        tu_fill_uniform(rv, (size_t)OC, 0.5f, 2.0f, 104 + k);
        tu_fill_uniform(ga, (size_t)OC, 0.5f, 3.0f, 105 + k);
        tu_fill_uniform(be, (size_t)OC, -1, 1, 106 + k);
        batchnorm_eval_stats(mean, inv, rm, rv, OC, 1e-5f);
        conv_bn bn = {mean, inv, ga, be};
        for (int level = 0; level < N_LEVELS; level++)
            for (int act = ACT_NONE; act <= ACT_RELU6; act++) {
                if (use_level(LEVELS[level]) != LEVELS[level]) continue;
                float m2[4096], i2[4096];
                conv2d_forward(y, x, w, c->bias ? b : NULL, &s, scratch, NULL);
                batchnorm_forward_eval_ex(want, m2, i2, rm, rv, y, ga, be, ny / (size_t)OC, OC, 1e-5f,
                                          act == ACT_RELU6 ? ACT_RELU6 : act == ACT_RELU ? ACT_RELU : ACT_NONE);
                conv2d_forward(got, x, w, c->bias ? b : NULL, &s, scratch, &(conv_epilogue){.bn = &bn, .act = act});
                if (memcmp(got, want, ny * sizeof(float)))
                    fail_msg("conv case %zu: forward with batch norm and activation %d differs (level %s)", k, act,
                             rp_simd_name(rp_simd_level()));
                if (act == ACT_NONE) continue;
                size_t rows = ny / (size_t)OC, nb = rows * act_mask_row_bytes(OC);
                uint8_t *bits = malloc(2 * nb), *bits_want = bits + nb;
                act_mask_pack(bits_want, want, rows, OC, (act_kind)act);
                memset(bits, 0xA5, nb);
                conv2d_forward(got, x, w, c->bias ? b : NULL, &s, scratch,
                               &(conv_epilogue){.bn = &bn, .act = act, .bits = bits});
                if (memcmp(got, want, ny * sizeof(float)) || memcmp(bits, bits_want, nb))
                    fail_msg("conv case %zu: forward with the mask bits of activation %d differs (level %s)", k, act,
                             rp_simd_name(rp_simd_level()));
                free(bits);
            }
        if (conv2d_forms_sums(&s)) { /* each sample's batch-norm sums of y, formed by the conv */
            size_t P = (size_t)s.OH * s.OW, nq = (size_t)s.B * 2 * OC;
            double *q = malloc(2 * nq * sizeof *q), *q_want = q + nq;
            conv2d_forward(y, x, w, c->bias ? b : NULL, &s, scratch, NULL);
            for (int i = 0; i < s.B; i++) batchnorm_sample_sums(q_want + (size_t)i * 2 * OC, y + i * P * OC, P, OC);
            conv2d_forward(got, x, w, c->bias ? b : NULL, &s, scratch, &(conv_epilogue){.sums = q});
            if (memcmp(got, y, ny * sizeof(float)) || memcmp(q, q_want, nq * sizeof *q))
                fail_msg("conv case %zu: forward with the batch norm's sums differs", k);
            free(q);
        }
        rp_simd_force(RP_SIMD_AVX512);
        free(bnp);
        free(x); free(w); free(b); free(y); free(want); free(got); free(scratch);
    }
}

/* A whole model with the graph's run-loop shortcuts (gradients written in place, batch norm
 * doing the ReLU/ReLU6 after it, forward and backward, conv doing the batch norm after it in
 * evaluation) equals, bit for bit, the plain run (RP_OPT_ZERO_DX: zero
 * every gradient and add; RP_OPT_NO_FUSION: every node its own step): logits, input gradient
 * and parameter gradients, in training and evaluation mode. Stale NaN in every activation and
 * gradient buffer (a poisoned previous pass) never leaks into the results. */
static void check_graph_write(const char *arch, int H, int C, int K, bool train)
{
    rp_ctx *ctx = rp_ctx_create(2);
    rp_model_config cfg = {.arch = arch, .num_classes = K, .H = H, .W = H, .C = C, .max_batch = 3, .seed = 5};
    for (int c = 0; c < 4; c++) cfg.mean[c] = 0.5f, cfg.std[c] = 0.25f;
    rp_model *m;
    assert_int_equal(rp_model_create(ctx, &cfg, &m), RP_OK);
    rp_graph *g = &m->g;
    /* chains agree to rounding, not bit for bit (tests/test_chain.c); nor does the training conv +
     * batch norm (tests/test_pwbn.c, test_models_ref.c) */
    const unsigned shortcuts = RP_OPT_NO_CHAIN | RP_OPT_NO_TRAIN_FOLD;
    size_t X = (size_t)3 * H * H * C, np = 0;
    for (int i = 0; i < g->n_params; i++) np += g->params[i].grad ? g->params[i].numel : 0;
    for (int i = 0; i < g->n_params; i++) { /* BN gamma 3: many values above ReLU6's clip */
        rp_param *P = &g->params[i];
        if (P->ndim == 1 && strstr(P->name, ".weight"))
            for (size_t j = 0; j < P->numel; j++) P->data[j] = 3.0f;
        if (strstr(P->name, "running_mean")) tu_fill_uniform(P->data, P->numel, -0.3f, 0.3f, 90 + (uint64_t)i);
        if (strstr(P->name, "running_var")) tu_fill_uniform(P->data, P->numel, 0.5f, 2.0f, 90 + (uint64_t)i);
    }
    float *x = floats(X), *dl = floats(3 * (size_t)K), *dx[2], *gr[2], *z[2];
    tu_fill_uniform(x, X, 0, 1, 95);
    tu_fill_uniform(dl, 3 * (size_t)K, -1, 1, 96);
    int fused = 0, fused_bwd = 0, sums = 0, dw_bn = 0, pooled = 0;
    for (int mode = 0; mode < 2; mode++) {
        g->options = shortcuts | (mode == 0 ? RP_OPT_ZERO_DX | RP_OPT_NO_FUSION : 0u);
        rp_graph_set_examples(g, 0, NULL, 0, 3); /* the same dropout masks in both passes */
        dx[mode] = floats(X);
        gr[mode] = floats(np);
        z[mode] = floats(3 * (size_t)K);
        for (int i = 0; i < g->n_nodes; i++) /* poison every buffer */
            for (size_t j = 0; j < (size_t)3 * rp_shape_numel(g->nodes[i].out_shape); j++)
                g->nodes[i].dy[j] = g->nodes[i].y[j] = NAN;
        for (size_t j = 0; j < X; j++) dx[mode][j] = NAN;
        rp_model_zero_grad(m);
        memcpy(z[mode], rp_model_forward(m, x, 3, train), 3 * (size_t)K * sizeof(float));
        rp_model_backward(m, dl, dx[mode], RP_GRAD_PARAMS | RP_GRAD_INPUT);
        size_t o = 0;
        for (int i = 0; i < g->n_params; i++)
            if (g->params[i].grad) {
                memcpy(gr[mode] + o, g->params[i].grad, g->params[i].numel * sizeof(float));
                o += g->params[i].numel;
            }
        const rp_plan *plan = g->last_plan; /* the forward the backward ran after */
        for (int k = 0; mode == 1 && k < plan->n_steps; k++) fused += plan->steps[k].act >= 0;
        if (mode == 1) {
            fused_bwd = rp_plan_count_act_bwd(g, plan); /* the BN did its ReLU6's backward */
            sums = rp_plan_count(plan, RP_STEP_CONV_BN_SUMS); /* the conv before formed the BN's sums */
            dw_bn = rp_plan_count(plan, RP_STEP_DW_BN_TRAIN); /* ... and did its backward (depthwise) */
            sums += dw_bn;
            pooled = rp_plan_count_conv_pool(plan); /* a conv did the max-pool after its ReLU */
        }
    }
    if (!strcmp(arch, "mobilenet_v2")) assert_true(fused > 30 && fused_bwd > 30); /* every BN before a ReLU6 */
    /* mobilenet_v2: every BN but those after the large (whole-batch GEMM) convs; resnet18: the small convs' */
    int want = !train ? 0 : !strcmp(arch, "mobilenet_v2") ? 40 : !strcmp(arch, "resnet18") ? 5 : 0;
    if (sums < want) fail_msg("%s: only %d batch norms took their sums from the conv before", arch, sums);
    /* mobilenet_v2: the 17 depthwise convs did their batch norm's backward, its input gradient
     * formed a tile at a time (never written), with the same bits as the plain run */
    assert_int_equal(dw_bn, train && !strcmp(arch, "mobilenet_v2") ? 17 : 0);
    assert_int_equal(pooled, !strcmp(arch, "smallcnn") ? 2 : 0); /* both of smallcnn's, in both modes */
    assert_true(g->n_dy_slots <= 6); /* gradient buffers shared (mnv2: 154 nodes), results still equal */
    for (size_t j = 0; j < X; j++) assert_false(isnan(dx[1][j]));
    for (size_t j = 0; j < np; j++) assert_false(isnan(gr[1][j]));
    if (memcmp(z[0], z[1], 3 * (size_t)K * sizeof(float)) || memcmp(dx[0], dx[1], X * sizeof(float)) ||
        memcmp(gr[0], gr[1], np * sizeof(float)))
        fail_msg("%s (train %d): the run loop's shortcuts change the results", arch, train);
    if (!train && strcmp(arch, "smallcnn")) { /* an attack's pass: conv + batch norm folded, input gradient only */
        for (int i = 0; i < g->n_nodes; i++)
            for (size_t j = 0; j < (size_t)3 * rp_shape_numel(g->nodes[i].out_shape); j++)
                g->nodes[i].dy[j] = g->nodes[i].y[j] = NAN;
        float *z2 = floats(3 * (size_t)K), *dx2 = floats(X);
        memcpy(z2, rp_model_forward(m, x, 3, false), 3 * (size_t)K * sizeof(float));
        assert_true(rp_plan_count(g->last_plan, RP_STEP_CONV_BN_EVAL) > 0);
        rp_model_backward(m, dl, dx2, RP_GRAD_INPUT);
        if (memcmp(z[0], z2, 3 * (size_t)K * sizeof(float)) || memcmp(dx[0], dx2, X * sizeof(float)))
            fail_msg("%s: the folded evaluation pass changes the logits or the input gradient", arch);
        free(z2);
        free(dx2);
    }
    for (int mode = 0; mode < 2; mode++) { free(dx[mode]); free(gr[mode]); free(z[mode]); }
    free(x); free(dl);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

static void test_graph_write_mode(void **state)
{
    (void)state;
    for (int train = 0; train < 2; train++) {
        check_graph_write("smallcnn", 12, 1, 10, train);
        check_graph_write("smallcnn", 13, 3, 10, train); /* odd sizes: rows and columns no pool window covers */
        check_graph_write("mobilenet_v2", 32, 3, 7, train);
        check_graph_write("resnet18", 32, 3, 7, train);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relu_bitwise),
        cmocka_unit_test(test_relu6_bitwise),
        cmocka_unit_test(test_transpose_bitwise),
        cmocka_unit_test(test_maxpool_bitwise),
        cmocka_unit_test(test_maxpool_backward_bitwise),
        cmocka_unit_test(test_batchnorm_bitwise),
        cmocka_unit_test(test_conv_slots),
        cmocka_unit_test(test_conv_winograd),
        cmocka_unit_test(test_conv_direct),
        cmocka_unit_test(test_depthwise_bitwise),
        cmocka_unit_test(test_depthwise_bn_bitwise),
        cmocka_unit_test(test_write_mode_kernels),
        cmocka_unit_test(test_write_mode_conv),
        cmocka_unit_test(test_conv_act_epilogue),
        cmocka_unit_test(test_graph_write_mode),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    for (int l = 0; l < N_LEVELS; l++) /* which kernel variants these checks covered on this CPU */
        print_message("simd level %s: %s\n", rp_simd_name(LEVELS[l]),
                      ran[l] ? "ran" : "NOT RUN (this CPU lacks it; its kernels are unchecked here)");
    return failed;
}
