/* kernels/pwbn.h: a pointwise conv + training batch norm (+ ReLU6) without the conv's output,
 * against the same maths done the long way in double precision (E formed, the batch norm's
 * statistics and backward on it, then the conv's backward on dE), and against the float
 * layer-by-layer kernels: the fused path's error must be of the same order as theirs.
 * Inputs with a mean far from zero check the centring; results must not depend on the thread
 * count; every output (dx, dw, db, dgamma, dbeta, the running statistics' inputs) is checked. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/activation.h"
#include "kernels/actmask.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/gemm_direct.h"
#include "kernels/pwbn.h"
#include "nn/model.h"
#include "testutil.h"

typedef struct pw_case {
    int B, H, W, C, OC;
    bool bias, relu6;
    float x_lo, x_hi; /* input range: a mean far from 0 checks the centring */
} pw_case;

static const pw_case CASES[] = {
    {3, 5, 7, 5, 7, false, false, -1.0f, 1.0f},
    {2, 8, 8, 16, 96, false, true, 1.0f, 3.0f},   /* MobileNetV2's expand shape, shifted input */
    {4, 6, 5, 24, 40, true, true, -3.0f, -1.0f},  /* channel tails of 16, a bias */
    {1, 1, 9, 3, 33, true, false, 0.0f, 1.0f},    /* one sample of nine rows */
};

static float *floats(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    return p;
}

static double *doubles(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

/* max |a - ref| / max |ref| (ref in double). */
static double rel_err(const float *a, const double *ref, size_t n)
{
    double e = 0.0, m = 0.0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - ref[i]));
        m = fmax(m, fabs(ref[i]));
    }
    return m > 0.0 ? e / m : e;
}

typedef struct truth {
    double *mean, *var, *y;            /* forward */
    double *dx, *dw, *db, *dgamma, *dbeta; /* backward, from the masked output gradient */
} truth;

/* The long way in double: E = x w^T + b, batch statistics, y = act(bn(E)); G = mask dA;
 * dE = the batch norm's backward; dx = dE w, dw = dE^T x, db = sum dE. mask from `bits`. */
static void long_way(truth *t, const float *x, const float *w, const float *b, const float *gamma, const float *beta,
                     const float *dA, const uint8_t *bits, size_t N, int C, int OC, float eps)
{
    double *E = doubles(N * OC), *G = doubles(N * OC), *dE = doubles(N * OC);
    for (size_t r = 0; r < N; r++)
        for (int o = 0; o < OC; o++) {
            double e = b ? b[o] : 0.0;
            for (int i = 0; i < C; i++) e += (double)x[r * C + i] * w[(size_t)o * C + i];
            E[r * OC + o] = e;
        }
    size_t RB = act_mask_row_bytes(OC);
    for (int o = 0; o < OC; o++) {
        double s = 0.0, v = 0.0;
        for (size_t r = 0; r < N; r++) s += E[r * OC + o];
        double mean = s / (double)N;
        for (size_t r = 0; r < N; r++) v += (E[r * OC + o] - mean) * (E[r * OC + o] - mean);
        double var = v / (double)N, invstd = 1.0 / sqrt(var + eps);
        t->mean[o] = mean, t->var[o] = var;
        double sg = 0.0, sgx = 0.0;
        for (size_t r = 0; r < N; r++) {
            double xh = (E[r * OC + o] - mean) * invstd, z = gamma[o] * xh + beta[o];
            t->y[r * OC + o] = bits ? fmin(fmax(z, 0.0), 6.0) : z;
            double g = bits && !RP_MASK_BIT(bits + r * RB, o) ? 0.0 : dA[r * OC + o];
            G[r * OC + o] = g;
            sg += g, sgx += g * xh;
        }
        t->dbeta[o] = sg, t->dgamma[o] = sgx;
        for (size_t r = 0; r < N; r++) {
            double xh = (E[r * OC + o] - mean) * invstd;
            dE[r * OC + o] = gamma[o] * invstd / (double)N * ((double)N * G[r * OC + o] - sg - xh * sgx);
        }
    }
    for (size_t r = 0; r < N; r++)
        for (int i = 0; i < C; i++) {
            double s = 0.0;
            for (int o = 0; o < OC; o++) s += dE[r * OC + o] * w[(size_t)o * C + i];
            t->dx[r * C + i] = s;
        }
    for (int o = 0; o < OC; o++) {
        double sb = 0.0;
        for (size_t r = 0; r < N; r++) sb += dE[r * OC + o];
        t->db[o] = sb;
        for (int i = 0; i < C; i++) {
            double s = 0.0;
            for (size_t r = 0; r < N; r++) s += dE[r * OC + o] * x[r * C + i];
            t->dw[(size_t)o * C + i] = s;
        }
    }
    free(E), free(G), free(dE);
}

static void check_case(const pw_case *pc, size_t k, bool bf16)
{
    const int C = pc->C, OC = pc->OC;
    const size_t N = (size_t)pc->B * pc->H * pc->W;
    const float eps = 1e-5f;
    conv2d_shape s = conv2d_shape_make(pc->B, pc->H, pc->W, C, OC, 1, 1, 0, 1);
    float *x = floats(N * C), *w = floats((size_t)OC * C), *b = floats(OC), *gamma = floats(OC), *beta = floats(OC);
    float *dA = floats(N * OC), *g = floats(N * OC), *y = floats(N * OC);
    tu_fill_uniform(x, N * C, pc->x_lo, pc->x_hi, 300 + k);
    tu_fill_uniform(w, (size_t)OC * C, -1.0f, 1.0f, 301 + k);
    tu_fill_uniform(b, OC, -1.0f, 1.0f, 302 + k);
    tu_fill_uniform(gamma, OC, 0.5f, 3.0f, 303 + k); /* many outputs above ReLU6's clip */
    tu_fill_uniform(beta, OC, -1.0f, 2.0f, 304 + k);
    tu_fill_uniform(dA, N * OC, -1.0f, 1.0f, 305 + k);
    const float *bias = pc->bias ? b : NULL;

    /* forward: the statistics from the moments, then the conv writing the batch norm's output */
    double *m = doubles(pwbn_moment_doubles(C)), *work = doubles(pwbn_work_doubles(N, C, OC) + 64);
    double *mean_d = doubles(OC), *var_d = doubles(OC);
    float *fwork = floats(pwbn_moment_floats(N, C));
    pwbn_moments(m, x, N, C, work, fwork);
    pwbn_stats(mean_d, var_d, m, w, bias, C, OC);
    float *mean = floats(OC), *invstd = floats(OC);
    for (int o = 0; o < OC; o++) {
        mean[o] = (float)mean_d[o];
        invstd[o] = (float)(1.0 / sqrt(var_d[o] + (double)eps));
    }
    float *scratch = floats(conv2d_scratch_floats(&s) + pwbn_scratch_floats(C, OC));
    conv_bn bn = {.mean = mean, .invstd = invstd, .gamma = gamma, .beta = beta};
    conv2d_forward(y, x, w, bias, &s, scratch, &(conv_epilogue){.bn = &bn, .act = pc->relu6 ? ACT_RELU6 : ACT_NONE});
    uint8_t *bits = NULL;
    if (pc->relu6) {
        bits = malloc(N * act_mask_row_bytes(OC));
        act_mask_pack(bits, y, N, OC, ACT_RELU6);
    }

    truth t = {doubles(OC), doubles(OC), doubles(N * OC), doubles(N * C), doubles((size_t)OC * C),
               doubles(OC), doubles(OC), doubles(OC)};
    long_way(&t, x, w, bias, gamma, beta, dA, bits, N, C, OC, eps);
    double vmax = 0.0;
    for (int o = 0; o < OC; o++) vmax = fmax(vmax, t.var[o]);
    for (int o = 0; o < OC; o++) {
        if (!(fabs(mean_d[o] - t.mean[o]) <= 1e-9 * (1.0 + fabs(t.mean[o]))))
            fail_msg("case %zu: mean %d %.17g, long way %.17g", k, o, mean_d[o], t.mean[o]);
        if (!(fabs(var_d[o] - t.var[o]) <= 2e-6 * vmax)) /* u^T u in float */
            fail_msg("case %zu: variance %d %.17g, long way %.17g", k, o, var_d[o], t.var[o]);
    }
    double ey = rel_err(y, t.y, N * OC);
    if (!bf16 && !(ey <= 2e-6)) fail_msg("case %zu: forward output off by %g (relative)", k, ey);

    /* backward, twice (1 and 2 threads, bit for bit), then against the long way */
    float *dx[2], *dw[2], *db[2], *dg[2], *dbe[2];
    for (int th = 0; th < 2; th++) {
        omp_set_num_threads(th + 1);
        dx[th] = floats(N * C), dw[th] = floats((size_t)OC * C), db[th] = floats(OC);
        dg[th] = floats(OC), dbe[th] = floats(OC);
        for (size_t i = 0; i < N * C; i++) dx[th][i] = NAN; /* written, not added */
        memset(dw[th], 0, (size_t)OC * C * sizeof(float));
        memset(db[th], 0, OC * sizeof(float)), memset(dg[th], 0, OC * sizeof(float));
        memset(dbe[th], 0, OC * sizeof(float));
        memcpy(g, dA, N * OC * sizeof(float));
        pwbn_grads d = {.dx = dx[th], .dw = dw[th], .db = db[th], .dgamma = dg[th], .dbeta = dbe[th], .acc_dx = false};
        pwbn_backward(&d, g, bits, x, w, gamma, invstd, m, N, C, OC, scratch, work);
    }
    omp_set_num_threads(2);
    if (memcmp(dx[0], dx[1], N * C * sizeof(float)) || memcmp(dw[0], dw[1], (size_t)OC * C * sizeof(float)) ||
        memcmp(dg[0], dg[1], OC * sizeof(float)) || memcmp(dbe[0], dbe[1], OC * sizeof(float)))
        fail_msg("case %zu: results depend on the thread count", k);
    /* the layer-by-layer float kernels' error on the same inputs, for scale */
    float *E = floats(N * OC), *dE = floats(N * OC), *ldx = floats(N * C), *ldw = floats((size_t)OC * C);
    float *ldg = floats(OC), *ldb = floats(OC), *mean2 = floats(OC), *inv2 = floats(OC);
    float *rm = floats(OC), *rv = floats(OC);
    double *bnw = doubles(batchnorm_work_doubles(OC, (size_t)pc->B) * 2);
    conv2d_forward(E, x, w, bias, &s, scratch, NULL);
    batchnorm_forward_train(y, mean2, inv2, rm, rv, E, gamma, beta, N, OC, (size_t)pc->H * pc->W, eps, 0.1f, bnw);
    /* with BF16 products the output's error is the rounding of E's operands (relative to E, not to
     * its spread: large where x's mean is far from 0), in both paths alike */
    if (pc->relu6)
        for (size_t i = 0; i < N * OC; i++) y[i] = fminf(fmaxf(y[i], 0.0f), 6.0f);
    double ely = rel_err(y, t.y, N * OC);
    if (bf16 && !(ey <= fmax(2.0 * ely, 2e-6)))
        fail_msg("case %zu: forward output off by %g (relative), layer by layer %g", k, ey, ely);
    memset(ldg, 0, OC * sizeof(float)), memset(ldb, 0, OC * sizeof(float));
    memset(ldw, 0, (size_t)OC * C * sizeof(float));
    batchnorm_backward_act(dE, ldg, ldb, dA, NULL, bits, bits ? ACT_RELU6 : ACT_NONE, E, mean2, inv2, gamma,
                           N, OC, 1, bnw, false);
    conv2d_backward(ldx, ldw, NULL, dE, x, w, &s, scratch, false);
    struct { const char *what; const float *got, *lay; const double *ref; size_t n; } out[] = {
        {"dx", dx[0], ldx, t.dx, N * C}, {"dw", dw[0], ldw, t.dw, (size_t)OC * C},
        {"dgamma", dg[0], ldg, t.dgamma, OC}, {"dbeta", dbe[0], ldb, t.dbeta, OC},
    };
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++) {
        double e = rel_err(out[i].got, out[i].ref, out[i].n), el = rel_err(out[i].lay, out[i].ref, out[i].n);
        if (!(e <= fmax(8.0 * el, 2e-6)))
            fail_msg("case %zu: %s off by %g (relative), layer by layer %g", k, out[i].what, e, el);
    }
    double bmax = 0.0; /* the conv bias's gradient is zero up to rounding */
    for (int o = 0; o < OC; o++) bmax = fmax(bmax, fabs(db[0][o]) / (1.0 + fabs(t.dbeta[o])));
    if (!(bmax <= 1e-5)) fail_msg("case %zu: conv bias gradient %g, zero by structure", k, bmax);
    /* accumulate mode adds the same bits to what dx holds; parts can be skipped */
    float *acc = floats(N * C);
    for (size_t i = 0; i < N * C; i++) acc[i] = 0.5f;
    memcpy(g, dA, N * OC * sizeof(float));
    pwbn_grads da = {.dx = acc, .acc_dx = true};
    pwbn_backward(&da, g, bits, x, w, gamma, invstd, m, N, C, OC, scratch, work);
    double ea = 0.0, dmax = 0.0;
    for (size_t i = 0; i < N * C; i++) {
        ea = fmax(ea, fabs((double)acc[i] - 0.5 - dx[0][i]));
        dmax = fmax(dmax, fabs(dx[0][i]));
    }
    if (!(ea <= 1e-6 * (1.0 + dmax))) fail_msg("case %zu: accumulate mode off by %g", k, ea);

    free(x), free(w), free(b), free(gamma), free(beta), free(dA), free(g), free(y), free(m), free(work);
    free(mean_d), free(var_d), free(fwork), free(mean), free(invstd), free(scratch), free(bits), free(acc);
    free(t.mean), free(t.var), free(t.y), free(t.dx), free(t.dw), free(t.db), free(t.dgamma), free(t.dbeta);
    for (int th = 0; th < 2; th++) free(dx[th]), free(dw[th]), free(db[th]), free(dg[th]), free(dbe[th]);
    free(E), free(dE), free(ldx), free(ldw), free(ldg), free(ldb), free(mean2), free(inv2);
    free(rm), free(rv), free(bnw);
}

static void test_pwbn(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) check_case(&CASES[k], k, false);
}

/* The same with BF16 products (where the CPU has them; else reported as skipped): the fused
 * backward subtracts terms of separately rounded products (g k1W and x M), the layer-by-layer
 * one subtracts before its product; the fused path's error must still be of the order of
 * theirs, inputs far from zero included. */
static void test_pwbn_bf16(void **state)
{
    (void)state;
    if (!gemm_direct_set_bf16(true)) skip();
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) check_case(&CASES[k], k, true);
    assert_true(gemm_direct_set_bf16(false));
}

/* The cost rule takes MobileNetV2's early expand convs (64x64 inputs, batch 64) and leaves the
 * late, narrow-batch ones to the layer-by-layer path. */
static void test_pwbn_worth(void **state)
{
    (void)state;
    assert_true(pwbn_worth(65536, 16, 96));  /* features.2 */
    assert_true(pwbn_worth(4096, 32, 192));  /* features.5 */
    assert_false(pwbn_worth(1024, 96, 576)); /* features.12 */
    assert_false(pwbn_worth(256, 160, 960)); /* features.15 */
}

/* A conv that does the training batch norm after it reads that batch norm's gradient, or its
 * ReLU6's, in its own backward step, while it writes its input's gradient: the graph must not
 * give those gradients one shared buffer (planned without the fold, features.18.0's input
 * gradient shared the batch norm's). */
static void test_fold_buffers(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    rp_model_config cfg = {.arch = "mobilenet_v2", .num_classes = 10, .H = 64, .W = 64, .C = 3, .max_batch = 3,
                           .seed = 1};
    for (int c = 0; c < 4; c++) cfg.mean[c] = 0.5f, cfg.std[c] = 0.25f;
    rp_model *m;
    assert_int_equal(rp_model_create(ctx, &cfg, &m), RP_OK);
    rp_graph *g = &m->g;
    g->options = RP_OPT_TRAIN_FOLD_ALWAYS;
    const rp_plan *p = rp_graph_plan(g, RP_PLAN_TRAIN, 3);
    int folds = 0;
    for (int k = 0; k < p->n_steps; k++) {
        const rp_step *s = &p->steps[k];
        const rp_node *n = &g->nodes[s->node];
        if (s->kind != RP_STEP_CONV_BN_TRAIN || n->in[0] == RP_INPUT) continue;
        int sx = g->nodes[n->in[0]].dy_slot;
        if (sx == g->nodes[s->bn].dy_slot || (s->act >= 0 && sx == g->nodes[s->act].dy_slot))
            fail_msg("%s: its input's gradient shares a buffer with the gradient it reads", n->name);
        folds++;
    }
    assert_true(folds >= 17); /* features.2-17's expand convs and features.18 */
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

/* The first pass of the backward, bit for bit: the gradient masked in place by the bits
 * (0 + (mask ? g : 0)) and the beta gradient equal to the masked gradient's column sums in double
 * over fixed chunks of rows (BN_CHUNKS, rows in order, chunks added in order), at every SIMD level
 * and thread count, on column counts that take every block kind of the sums' kernel (two and one
 * vectors, single columns) and chunks of more than one group of rows. */
static void test_pwbn_masked_sums_bits(void **state)
{
    (void)state;
    static const int shapes[][3] = {{300, 3, 7}, {2000, 4, 24}, {2000, 4, 40}, {777, 5, 56}, {96, 3, 100}};
    static const rp_simd levels[] = {RP_SIMD_PORTABLE, RP_SIMD_AVX2, RP_SIMD_AVX512};
    const int threads = omp_get_max_threads();
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const size_t N = (size_t)shapes[k][0];
        const int C = shapes[k][1], OC = shapes[k][2], K = N < BN_CHUNKS ? (int)N : BN_CHUNKS;
        const size_t RB = act_mask_row_bytes(OC), ng = N * (size_t)OC;
        float *x = floats(N * C), *w = floats((size_t)OC * C), *g0 = floats(ng), *g = floats(ng), *want_g = floats(ng);
        float *gamma = floats((size_t)OC), *invstd = floats((size_t)OC), *dbeta = floats((size_t)OC);
        float *want_db = floats((size_t)OC), *scratch = floats(pwbn_scratch_floats(C, OC) + pwbn_moment_floats(N, C));
        uint8_t *bits = malloc(N * RB);
        double *m = malloc(pwbn_moment_doubles(C) * sizeof *m);
        double *work = malloc(pwbn_work_doubles(N, C, OC) * sizeof *work);
        assert_non_null(bits), assert_non_null(m), assert_non_null(work);
        tu_fill_uniform(x, N * C, -1, 1, 300 + k);
        tu_fill_uniform(w, (size_t)OC * C, -1, 1, 301 + k);
        tu_fill_uniform(g0, ng, -1, 1, 302 + k);
        tu_fill_uniform(gamma, (size_t)OC, 0.5f, 1.5f, 303 + k);
        tu_fill_uniform(invstd, (size_t)OC, 0.5f, 1.5f, 304 + k);
        for (size_t i = 0; i < N * RB; i++) bits[i] = (uint8_t)(i * 37 + k * 11 + (i >> 3));
        for (size_t n = 0; n < N; n++)
            for (int o = 0; o < OC; o++)
                want_g[n * OC + o] = 0.0f + (RP_MASK_BIT(bits + n * RB, o) ? g0[n * OC + o] : 0.0f);
        for (int o = 0; o < OC; o++) {
            double s1 = 0.0;
            for (int c = 0; c < K; c++) {
                double part = 0.0;
                for (size_t n = N * c / K; n < N * (c + 1) / K; n++) part += (double)want_g[n * OC + o];
                s1 += part;
            }
            want_db[o] = 0.0f + (float)s1;
        }
        pwbn_moments(m, x, N, C, work, scratch);
        for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++)
            for (int t = 1; t <= 3; t++) {
                if (rp_simd_force(levels[l]) != levels[l]) continue;
                omp_set_num_threads(t);
                memcpy(g, g0, ng * sizeof *g);
                memset(dbeta, 0, (size_t)OC * sizeof *dbeta);
                pwbn_backward(&(pwbn_grads){.dbeta = dbeta}, g, bits, x, w, gamma, invstd, m, N, C, OC, scratch, work);
                if (memcmp(g, want_g, ng * sizeof *g) || memcmp(dbeta, want_db, (size_t)OC * sizeof *dbeta))
                    fail_msg("N=%zu OC=%d level %s threads %d: masked gradient or its sums differ", N, OC,
                             rp_simd_name(levels[l]), t);
            }
        rp_simd_force(RP_SIMD_AVX512);
        omp_set_num_threads(threads);
        free(x), free(w), free(g0), free(g), free(want_g), free(gamma), free(invstd), free(dbeta), free(want_db);
        free(scratch), free(bits), free(m), free(work);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pwbn),
        cmocka_unit_test(test_pwbn_bf16),
        cmocka_unit_test(test_pwbn_worth),
        cmocka_unit_test(test_pwbn_masked_sums_bits),
        cmocka_unit_test(test_fold_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
