/* Chains (kernels/chain.h, nn/chain.c): a tile of samples through conv + batch norm (+ act)
 * units at once, in evaluation mode, forward and input gradient, against the same units run
 * one by one over the whole batch with the kernels the graph uses otherwise; then whole
 * models with chains against the same models without them. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/activation.h"
#include "kernels/batchnorm.h"
#include "kernels/chain.h"
#include "kernels/cpu.h"
#include "kernels/gemm_direct.h"
#include "nn/chain.h"
#include "nn/model.h"
#include "testutil.h"

static float *floats(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    return p;
}

static float max_abs(const float *x, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) m = fabsf(x[i]) > m ? fabsf(x[i]) : m;
    return m;
}

/* Close to float rounding (the pointwise GEMMs split rows differently), relative to the
 * tensor's scale. */
static void assert_near(const char *what, const float *a, const float *ref, size_t n)
{
    tu_assert_close(what, a, ref, n, 1e-5f, 1e-5f * max_abs(ref, n));
}

/* One unit's description: conv (IC -> OC, K, stride, groups) + batch norm + act. */
typedef struct unit_spec {
    int OC, K, stride, groups, act;
    bool bias;
} unit_spec;

typedef struct chain_case {
    const char *name;
    int B, H, W, C, n;
    unit_spec u[CHAIN_MAX];
    bool residual;
} chain_case;

static const chain_case CASES[] = {
    /* MobileNetV2's expand / depthwise / project with the residual */
    {"expand-dw-project+x", 5, 8, 8, 16, 3,
     {{96, 1, 1, 1, ACT_RELU6, false}, {96, 3, 1, 96, ACT_RELU6, false}, {16, 1, 1, 1, ACT_NONE, false}}, true},
    /* stride 2, channels off the 16-lane blocks, biases, ReLU */
    {"stride2-odd-bias", 3, 9, 7, 12, 3,
     {{72, 1, 1, 1, ACT_RELU, true}, {72, 3, 2, 72, ACT_RELU6, true}, {20, 1, 1, 1, ACT_NONE, true}}, false},
    /* a first layer (3x3 stride 2 on 3 channels, the direct path) then features.1 */
    {"direct-dw-project", 3, 12, 10, 3, 3,
     {{16, 3, 2, 1, ACT_RELU6, false}, {16, 3, 1, 16, ACT_RELU6, false}, {8, 1, 1, 1, ACT_NONE, false}}, false},
    /* t = 1 (features.1): depthwise then project; a 5x5 depthwise through the generic rows */
    {"dw5-project", 4, 6, 6, 32, 2, {{32, 5, 1, 32, ACT_RELU6, false}, {16, 1, 1, 1, ACT_NONE, false}}, false},
};

typedef struct chain_data {
    conv_chain c;
    float *w[CHAIN_MAX], *b[CHAIN_MAX], *mean[CHAIN_MAX], *invstd[CHAIN_MAX], *gamma[CHAIN_MAX], *beta[CHAIN_MAX];
    size_t xn, yn; /* per sample */
} chain_data;

static void make_chain(const chain_case *cc, chain_data *d, uint64_t seed)
{
    memset(d, 0, sizeof *d);
    d->c.n = cc->n;
    d->c.residual = cc->residual;
    int H = cc->H, W = cc->W, C = cc->C;
    d->xn = (size_t)H * W * C;
    for (int k = 0; k < cc->n; k++) {
        const unit_spec *u = &cc->u[k];
        chain_unit *cu = &d->c.u[k];
        cu->s = conv2d_shape_make(cc->B, H, W, C, u->OC, u->K, u->stride, (u->K - 1) / 2, u->groups);
        assert_true(chain_unit_applies(&cu->s));
        size_t nw = (size_t)u->OC * u->K * u->K * (C / u->groups);
        d->w[k] = floats(nw);
        tu_fill_uniform(d->w[k], nw, -0.4f, 0.4f, seed + 10 * (uint64_t)k);
        if (u->bias) {
            d->b[k] = floats((size_t)u->OC);
            tu_fill_uniform(d->b[k], (size_t)u->OC, -0.3f, 0.3f, seed + 10 * (uint64_t)k + 1);
        }
        float *rm = floats((size_t)u->OC), *rv = floats((size_t)u->OC);
        tu_fill_uniform(rm, (size_t)u->OC, -0.3f, 0.3f, seed + 10 * (uint64_t)k + 2);
        tu_fill_uniform(rv, (size_t)u->OC, 0.5f, 2.0f, seed + 10 * (uint64_t)k + 3);
        d->mean[k] = floats((size_t)u->OC), d->invstd[k] = floats((size_t)u->OC);
        batchnorm_eval_stats(d->mean[k], d->invstd[k], rm, rv, u->OC, 1e-5f);
        free(rm), free(rv);
        d->gamma[k] = floats((size_t)u->OC), d->beta[k] = floats((size_t)u->OC);
        tu_fill_uniform(d->gamma[k], (size_t)u->OC, -1.0f, 3.0f, seed + 10 * (uint64_t)k + 4); /* ReLU6 clips some */
        tu_fill_uniform(d->beta[k], (size_t)u->OC, -0.5f, 1.5f, seed + 10 * (uint64_t)k + 5);
        cu->w = d->w[k], cu->b = d->b[k], cu->act = u->act;
        cu->bn = (conv_bn){.mean = d->mean[k], .invstd = d->invstd[k], .gamma = d->gamma[k], .beta = d->beta[k]};
        H = cu->s.OH, W = cu->s.OW, C = u->OC;
    }
    d->yn = (size_t)H * W * C;
}

static void free_chain(chain_data *d)
{
    for (int k = 0; k < d->c.n; k++) {
        free(d->w[k]), free(d->b[k]), free(d->mean[k]), free(d->invstd[k]), free(d->gamma[k]), free(d->beta[k]);
    }
}

static size_t unit_in(const chain_unit *u, int B) { return (size_t)B * u->s.H * u->s.W * u->s.C; }
static size_t unit_out(const chain_unit *u, int B) { return (size_t)B * u->s.OH * u->s.OW * u->s.OC; }

/* The units one by one over the whole batch: outs[k] = unit k's output (the last's plus x). */
static void reference_forward(float **outs, const float *x, const conv_chain *c, int B, float *scratch)
{
    const float *in = x;
    for (int k = 0; k < c->n; k++) {
        const chain_unit *u = &c->u[k];
        conv2d_forward(outs[k], in, u->w, u->b, &u->s, scratch, &(conv_epilogue){.bn = &u->bn, .act = u->act});
        in = outs[k];
    }
    if (c->residual)
        for (size_t i = 0; i < unit_out(&c->u[c->n - 1], B); i++) outs[c->n - 1][i] += x[i];
}

/* dx = J^T dy by the units' own backward kernels: the batch norm's evaluation backward with
 * its activation's mask, then the conv's input gradient; the residual adds dy. */
static void reference_backward(float *dx, const float *dy, float **outs, const conv_chain *c, int B, float *scratch)
{
    size_t most = 0;
    for (int k = 0; k < c->n; k++) most = unit_out(&c->u[k], B) > most ? unit_out(&c->u[k], B) : most;
    for (int k = 0; k < c->n; k++) most = unit_in(&c->u[k], B) > most ? unit_in(&c->u[k], B) : most;
    float *t = floats(most), *g = floats(most);
    double *work = malloc(batchnorm_work_doubles(512, 1) * sizeof *work);
    memcpy(g, dy, unit_out(&c->u[c->n - 1], B) * sizeof *g);
    for (int k = c->n - 1; k >= 0; k--) {
        const chain_unit *u = &c->u[k];
        batchnorm_backward_act(t, NULL, NULL, g, outs[k], NULL, u->act, NULL, u->bn.mean, u->bn.invstd, u->bn.gamma,
                               (size_t)B * u->s.OH * u->s.OW, u->s.OC, 0, work, false);
        float *to = k == 0 ? dx : g;
        conv2d_backward(to, NULL, NULL, t, NULL, u->w, &u->s, scratch, false);
    }
    if (c->residual)
        for (size_t i = 0; i < unit_in(&c->u[0], B); i++) dx[i] += dy[i];
    free(t), free(g), free(work);
}

static void check_chain(const chain_case *cc, bool levels)
{
    chain_data d;
    make_chain(cc, &d, 700);
    int B = cc->B;
    size_t X = B * d.xn, Y = B * d.yn, scr = 1 << 20;
    for (int k = 0; k < d.c.n; k++) {
        size_t s = conv2d_scratch_floats(&d.c.u[k].s);
        scr = s > scr ? s : scr;
    }
    size_t cs = chain_scratch_floats(&d.c, B, 2);
    float *x = floats(X), *dy = floats(Y), *scratch = floats(scr > cs ? scr : cs), *outs[CHAIN_MAX];
    tu_fill_uniform(x, X, -1.0f, 2.0f, 701);
    tu_fill_uniform(dy, Y, -1.0f, 1.0f, 702);
    for (int k = 0; k < d.c.n; k++) outs[k] = floats(unit_out(&d.c.u[k], B));
    reference_forward(outs, x, &d.c, B, scratch);
    float *dx_ref = floats(X);
    reference_backward(dx_ref, dy, outs, &d.c, B, scratch);
    assert_true(max_abs(outs[d.c.n - 1], Y) > 0.1f && max_abs(dx_ref, X) > 0.01f); /* not all clipped away */

    float *y1 = floats(Y), *y2 = floats(Y), *dx1 = floats(X), *dx2 = floats(X);
    size_t nm = chain_mask_bytes(&d.c, B);
    uint8_t *m1 = malloc(nm), *m2 = malloc(nm);
    memset(m1, 0xA5, nm), memset(m2, 0x5A, nm); /* every bit written */
    for (size_t i = 0; i < Y; i++) y1[i] = y2[i] = NAN;
    for (size_t i = 0; i < X; i++) dx1[i] = dx2[i] = NAN; /* written, not added */
    chain_forward(y1, x, &d.c, B, scratch, 1, m1);
    chain_forward(y2, x, &d.c, B, scratch, 2, m2);
    assert_memory_equal(m1, m2, nm);
    chain_backward(dx1, dy, m1, &d.c, B, scratch, 1, false);
    chain_backward(dx2, dy, m2, &d.c, B, scratch, 2, false);
    char what[128];
    snprintf(what, sizeof what, "%s: forward", cc->name);
    assert_near(what, y1, outs[d.c.n - 1], Y);
    snprintf(what, sizeof what, "%s: input gradient", cc->name);
    assert_near(what, dx1, dx_ref, X);
    if (memcmp(y1, y2, Y * sizeof *y1) || memcmp(dx1, dx2, X * sizeof *dx1))
        fail_msg("%s: results depend on the thread count", cc->name);
    /* every SIMD level with the same GEMM kernels (OpenBLAS below AVX-512, gemm_direct at it):
     * the same bits (masks included); the other kernels: the same results to rounding */
    rp_simd top = rp_simd_level();
    bool direct = gemm_direct_applies();
    for (int l = levels ? RP_SIMD_PORTABLE : (int)top; l <= (int)top; l++) {
        rp_simd_force((rp_simd)l);
        memset(m2, 0x5A, nm);
        chain_forward(y2, x, &d.c, B, scratch, 2, m2);
        chain_backward(dx2, dy, m2, &d.c, B, scratch, 2, false);
        if (gemm_direct_applies() != direct) {
            snprintf(what, sizeof what, "%s: forward at SIMD level %s", cc->name, rp_simd_name((rp_simd)l));
            assert_near(what, y2, outs[d.c.n - 1], Y);
            snprintf(what, sizeof what, "%s: input gradient at SIMD level %s", cc->name, rp_simd_name((rp_simd)l));
            assert_near(what, dx2, dx_ref, X);
        } else if (memcmp(y1, y2, Y * sizeof *y1) || memcmp(m1, m2, nm) || memcmp(dx1, dx2, X * sizeof *dx1)) {
            fail_msg("%s: SIMD level %s gives other bits", cc->name, rp_simd_name((rp_simd)l));
        }
    }
    rp_simd_force(top);
    /* acc: adds into what dx holds */
    for (size_t i = 0; i < X; i++) dx2[i] = 0.25f;
    chain_backward(dx2, dy, m2, &d.c, B, scratch, 2, true);
    for (size_t i = 0; i < X; i++) dx1[i] += 0.25f;
    snprintf(what, sizeof what, "%s: accumulated input gradient", cc->name);
    assert_near(what, dx2, dx1, X);

    for (int k = 0; k < d.c.n; k++) free(outs[k]);
    free(x), free(dy), free(scratch), free(dx_ref), free(y1), free(y2), free(dx1), free(dx2), free(m1), free(m2);
    free_chain(&d);
}

static void test_chain_kernel(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) check_chain(&CASES[i], true);
}

/* The same with BF16 products (where the CPU has them; else reported as skipped): the chains'
 * own weight pairs against the units' kernels (the slots path's pairs), which round the same
 * operands: as close as in FP32. Only at the top level: below it nothing takes BF16. */
static void test_chain_kernel_bf16(void **state)
{
    (void)state;
    if (!gemm_direct_set_bf16(true)) skip();
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) check_chain(&CASES[i], false);
    assert_true(gemm_direct_set_bf16(false));
}

/* Tiles: one sample for MobileNetV2's widest early block at 64x64 (its intermediates fill a
 * tile alone), several for the narrow late ones; never more tiles than samples. */
static void test_chain_tiles(void **state)
{
    (void)state;
    conv_chain early = {.n = 3}, late = {.n = 3};
    early.u[0].s = conv2d_shape_make(64, 32, 32, 16, 96, 1, 1, 0, 1);
    early.u[1].s = conv2d_shape_make(64, 32, 32, 96, 96, 3, 2, 1, 96);
    early.u[2].s = conv2d_shape_make(64, 16, 16, 96, 24, 1, 1, 0, 1);
    late.u[0].s = conv2d_shape_make(64, 2, 2, 160, 960, 1, 1, 0, 1);
    late.u[1].s = conv2d_shape_make(64, 2, 2, 960, 960, 3, 1, 1, 960);
    late.u[2].s = conv2d_shape_make(64, 2, 2, 960, 160, 1, 1, 0, 1);
    assert_int_equal(chain_tile(&early, 64), 1);
    int t = chain_tile(&late, 64); /* 2x2 pixels: tiles of at least 128 GEMM rows, at least two tiles */
    assert_true(t * 4 >= 128 && t <= 32);
    assert_int_equal(chain_tile(&late, 3), 3);
}

/* BN statistics and affine parameters away from the identity, so the chains' batch norms and
 * ReLU6 clipping matter. */
static void perturb_bn(rp_graph *g)
{
    for (int i = 0; i < g->n_params; i++) {
        rp_param *P = &g->params[i];
        if (P->ndim != 1) continue;
        if (strstr(P->name, "running_mean")) tu_fill_uniform(P->data, P->numel, -0.3f, 0.3f, 80 + (uint64_t)i);
        else if (strstr(P->name, "running_var")) tu_fill_uniform(P->data, P->numel, 0.5f, 2.0f, 80 + (uint64_t)i);
        else if (strstr(P->name, ".weight")) tu_fill_uniform(P->data, P->numel, 0.5f, 3.0f, 80 + (uint64_t)i);
        else if (strstr(P->name, ".bias")) tu_fill_uniform(P->data, P->numel, -0.2f, 0.5f, 80 + (uint64_t)i);
    }
}

typedef struct pass_out {
    float *z, *dx, *gr, *guided;
} pass_out;

/* Eval forward; input gradient; then (forward again) parameter + input gradients, and the
 * guided input gradient. */
static void run_passes(rp_model *m, const float *x, const float *dl, int B, int K, size_t X, size_t np, pass_out *o,
                       bool *chained)
{
    rp_graph *g = &m->g;
    o->z = floats((size_t)B * K), o->dx = floats(X), o->gr = floats(np), o->guided = floats(X);
    memcpy(o->z, rp_model_forward(m, x, B, false), (size_t)B * K * sizeof(float));
    *chained = rp_plan_count(g->last_plan, RP_STEP_CHAIN) > 0;
    rp_model_backward(m, dl, o->dx, RP_GRAD_INPUT);
    rp_model_zero_grad(m);
    rp_model_forward(m, x, B, false);
    rp_model_backward(m, dl, NULL, RP_GRAD_PARAMS);
    size_t off = 0;
    for (int i = 0; i < g->n_params; i++)
        if (g->params[i].grad) {
            memcpy(o->gr + off, g->params[i].grad, g->params[i].numel * sizeof(float));
            off += g->params[i].numel;
        }
    rp_model_forward(m, x, B, false);
    rp_graph_backward_guided(g, dl, o->guided);
}

static void free_pass(pass_out *o) { free(o->z), free(o->dx), free(o->gr), free(o->guided); }

static void check_model_chains(const char *arch, int H, int expect_chains)
{
    rp_ctx *ctx = rp_ctx_create(2);
    const int B = 3, K = 7;
    rp_model_config cfg = {.arch = arch, .num_classes = K, .H = H, .W = H, .C = 3, .max_batch = B, .seed = 9};
    for (int c = 0; c < 3; c++) cfg.mean[c] = 0.5f, cfg.std[c] = 0.25f;
    rp_model *m;
    assert_int_equal(rp_model_create(ctx, &cfg, &m), RP_OK);
    rp_graph *g = &m->g;
    assert_int_equal(g->n_chains, expect_chains);
    if (expect_chains) { /* MobileNetV2's first layer joins features.1's chain */
        assert_int_equal(g->chains[0].first, rp_graph_find_node(g, "features.0.0"));
        assert_int_equal(g->chains[0].n, 3);
    }
    perturb_bn(g);
    size_t X = (size_t)B * H * H * 3, np = 0;
    for (int i = 0; i < g->n_params; i++) np += g->params[i].grad ? g->params[i].numel : 0;
    float *x = floats(X), *dl = floats((size_t)B * K);
    tu_fill_uniform(x, X, 0.0f, 1.0f, 91);
    tu_fill_uniform(dl, (size_t)B * K, -1.0f, 1.0f, 92);
    pass_out plain, chained;
    bool used[2];
    g->options = RP_OPT_NO_CHAIN;
    run_passes(m, x, dl, B, K, X, np, &plain, &used[0]);
    g->options = 0;
    for (int i = 0; i < g->n_nodes; i++) /* poison: a chain must not read what it never wrote */
        for (size_t j = 0; j < (size_t)B * rp_shape_numel(g->nodes[i].out_shape); j++)
            g->nodes[i].dy[j] = g->nodes[i].y[j] = NAN;
    run_passes(m, x, dl, B, K, X, np, &chained, &used[1]);
    assert_false(used[0]);
    assert_int_equal(used[1], expect_chains > 0);
    char what[96];
    snprintf(what, sizeof what, "%s: logits with chains", arch);
    assert_near(what, chained.z, plain.z, (size_t)B * K);
    snprintf(what, sizeof what, "%s: input gradient with chains", arch);
    assert_near(what, chained.dx, plain.dx, X);
    /* parameter gradients and guided backprop re-run the forward node by node: bit for bit */
    if (memcmp(chained.gr, plain.gr, np * sizeof(float)) || memcmp(chained.guided, plain.guided, X * sizeof(float)))
        fail_msg("%s: a backward after a chained forward differs from the plain one", arch);
    if (expect_chains) { /* a kept node (CAM) takes its chain out, and only that one */
        int node = g->chains[1].first + 1;
        assert_int_equal(rp_graph_keep(g, node), RP_OK);
        rp_model_forward(m, x, B, false);
        assert_false(g->chains[1].ran);
        assert_true(g->chains[0].ran && g->chains[2].ran);
        float *z2 = floats((size_t)B * K), *dx2 = floats(X);
        memcpy(z2, rp_model_forward(m, x, B, false), (size_t)B * K * sizeof(float));
        rp_model_backward(m, dl, dx2, RP_GRAD_INPUT);
        assert_false(isnan(g->nodes[node].dy[0]) || isnan(g->nodes[node].y[0]));
        snprintf(what, sizeof what, "%s: input gradient with a kept node", arch);
        assert_near(what, dx2, plain.dx, X);
        free(z2), free(dx2);
    }
    free_pass(&plain), free_pass(&chained);
    free(x), free(dl);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

static void test_chain_models(void **state)
{
    (void)state;
    check_model_chains("mobilenet_v2", 32, 17); /* features.1 .. features.17 */
    check_model_chains("resnet18", 32, 0);
    check_model_chains("smallcnn", 28, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_kernel),
        cmocka_unit_test(test_chain_kernel_bf16),
        cmocka_unit_test(test_chain_tiles),
        cmocka_unit_test(test_chain_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
