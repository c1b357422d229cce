/* The layers the newer backbones need (EfficientNet, DenseNet, ResNeXt): SiLU, Sigmoid,
 * channel-wise multiply (squeeze-and-excitation), concatenation along channels, stochastic
 * depth and grouped convolution. Finite-difference checks of input and parameter gradients,
 * values against closed forms, stochastic depth's statistics, errors, thread independence,
 * and the plan's fusions around the new layers giving the plain run's bits.
 * PyTorch's answers for the same layers: tests/test_layers_new_ref.c. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- SiLU and Sigmoid ------------------------------------------------------------------ */

static int build_silu(rp_graph *g, int in, void *arg)
{
    (void)arg;
    return rp_g_silu(g, in, "act");
}

static int build_sigmoid(rp_graph *g, int in, void *arg)
{
    (void)arg;
    return rp_g_sigmoid(g, in, "act");
}

/* conv -> SiLU -> conv -> Sigmoid: the parameters' gradients pass through both */
static int build_conv_silu_sigmoid(rp_graph *g, int in, void *arg)
{
    (void)arg;
    int a = rp_g_silu(g, rp_g_conv2d(g, in, "c1", 5, 3, 1, 1, 1, true), "silu");
    return rp_g_sigmoid(g, rp_g_conv2d(g, a, "c2", 4, 1, 1, 0, 1, true), "sig");
}

/* Both are smooth everywhere: central differences over 2*eps = 2e-2 err by f'''eps^2/6 < 1e-5;
 * float rounding of ~100 outputs of size ~1 adds ~1e-4. atol 1e-3, rtol 1e-2. */
static void test_silu_sigmoid_gradcheck(void **state)
{
    (void)state;
    tu_gc_opts o = {.B = 2, .eps = 1e-2f, .rtol = 1e-2f, .atol = 1e-3f, .max_checks = 200, .lo = -6, .hi = 6,
                    .seed = 100};
    tu_gradcheck((rp_shape){3, 4, 5}, build_silu, NULL, &o);
    o.seed = 101;
    tu_gradcheck((rp_shape){3, 4, 5}, build_sigmoid, NULL, &o);
    tu_gc_opts o2 = {.B = 2, .eps = 1e-2f, .rtol = 1e-2f, .atol = 1e-3f, .max_checks = 150, .lo = -2, .hi = 2,
                     .seed = 102};
    tu_gradcheck((rp_shape){4, 4, 3}, build_conv_silu_sigmoid, NULL, &o2);
}

/* Values and derivatives against double closed forms, far into both tails (no NaN, no
 * overflow): sigmoid(-100) = 0 exactly in float, silu(-100) = -0. */
static void test_silu_sigmoid_values(void **state)
{
    (void)state;
    enum { N = 12 };
    const float x[N] = {-100, -30, -9, -2.5f, -0.5f, -1e-3f, 0, 1e-3f, 0.75f, 3, 17, 100};
    float dy[N];
    for (int i = 0; i < N; i++) dy[i] = 0.5f + 0.1f * (float)i;
    for (int which = 0; which < 2; which++) {
        tu_graph o;
        tu_graph_init(&o, (rp_shape){1, N, 1});
        assert_true((which ? build_sigmoid : build_silu)(&o.g, RP_INPUT, NULL) >= 0);
        assert_int_equal(rp_graph_finalize(&o.g, 1, 1), RP_OK);
        const float *y = rp_graph_forward(&o.g, x, 1, false);
        float want[N], want_dx[N], dx[N];
        for (int i = 0; i < N; i++) {
            double s = 1.0 / (1.0 + exp(-(double)x[i]));
            want[i] = (float)(which ? s : x[i] * s);
            want_dx[i] = (float)(dy[i] * (which ? s * (1 - s) : s * (1 + x[i] * (1 - s))));
        }
        tu_assert_close(which ? "sigmoid y" : "silu y", y, want, N, 1e-6f, 1e-30f);
        rp_graph_backward(&o.g, dy, dx, false);
        /* sigmoid's derivative from its float output: y(1 - y) loses y's relative precision
         * where y is near 1 (1 - y ~ 1e-7 at x = 17): atol 1e-6 */
        tu_assert_close(which ? "sigmoid dx" : "silu dx", dx, want_dx, N, 1e-5f, 1e-6f);
        for (int i = 0; i < N; i++) assert_true(isfinite(y[i]) && isfinite(dx[i]));
        tu_graph_free(&o);
    }
}

/* ---- channel-wise multiply --------------------------------------------------------------- */

/* torchvision's SqueezeExcitation with SiLU: x * sigmoid(fc2(silu(fc1(avgpool(x))))) */
static int build_se(rp_graph *g, int in, void *arg)
{
    (void)arg;
    int C = rp_graph_shape(g, in).C;
    int s = rp_g_global_avgpool(g, in, "pool");
    s = rp_g_silu(g, rp_g_conv2d(g, s, "fc1", 2, 1, 1, 0, 1, true), "act");
    s = rp_g_sigmoid(g, rp_g_conv2d(g, s, "fc2", C, 1, 1, 0, 1, true), "scale");
    return rp_g_channel_mul(g, in, s, "mul");
}

/* with H = W = 1 the input may be its own scale: y = x^2 */
static int build_square(rp_graph *g, int in, void *arg)
{
    (void)arg;
    return rp_g_channel_mul(g, in, in, "mul");
}

/* x times a 1x1 conv of its pooled self, no squashing: the scale's gradient unsquashed */
static int build_plain_scale(rp_graph *g, int in, void *arg)
{
    (void)arg;
    int C = rp_graph_shape(g, in).C;
    int s = rp_g_conv2d(g, rp_g_global_avgpool(g, in, "pool"), "fc", C, 1, 1, 0, 1, true);
    return rp_g_channel_mul(g, in, s, "mul");
}

/* Products of smooth maps of x ~ 1: second differences ~ eps^2; float noise ~1e-4 over
 * 2*eps = 2e-2. atol 2e-3, rtol 1e-2. */
static void test_channel_mul_gradcheck(void **state)
{
    (void)state;
    tu_gc_opts o = {.B = 2, .eps = 1e-2f, .rtol = 1e-2f, .atol = 2e-3f, .max_checks = 200, .lo = -2, .hi = 2,
                    .seed = 110};
    tu_gradcheck((rp_shape){3, 4, 6}, build_se, NULL, &o);
    o.seed = 111;
    tu_gradcheck((rp_shape){3, 2, 5}, build_plain_scale, NULL, &o);
    o.seed = 112;
    tu_gradcheck((rp_shape){1, 1, 7}, build_square, NULL, &o);
}

static void test_channel_mul_values(void **state)
{
    (void)state;
    enum { B = 2, H = 2, W = 3, C = 4, N = B * H * W * C };
    tu_graph o;
    tu_graph_init(&o, (rp_shape){H, W, C});
    /* the scale: each channel's mean over the sample's pixels */
    int s = rp_g_global_avgpool(&o.g, RP_INPUT, "pool");
    int m = rp_g_channel_mul(&o.g, RP_INPUT, s, "mul");
    assert_true(m >= 0);
    assert_true(o.g.nodes[m].out_shape.H == H && o.g.nodes[m].out_shape.C == C);
    assert_int_equal(rp_graph_finalize(&o.g, B, 1), RP_OK);
    float x[N], dy[N], dx[N], want[N], want_dx[N];
    tu_fill_uniform(x, N, -1, 2, 113);
    tu_fill_uniform(dy, N, -1, 1, 114);
    double mean[B][C] = {{0}}, dsum[B][C] = {{0}};
    for (int b = 0; b < B; b++)
        for (int i = 0; i < H * W; i++)
            for (int c = 0; c < C; c++) mean[b][c] += x[(b * H * W + i) * C + c] / (double)(H * W);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < H * W; i++)
            for (int c = 0; c < C; c++) {
                int k = (b * H * W + i) * C + c;
                want[k] = (float)(x[k] * mean[b][c]);
                dsum[b][c] += (double)dy[k] * x[k];
            }
    /* d/dx of x * mean(x): dy * mean + (sum of dy * x) / HW */
    for (int b = 0; b < B; b++)
        for (int i = 0; i < H * W; i++)
            for (int c = 0; c < C; c++) {
                int k = (b * H * W + i) * C + c;
                want_dx[k] = (float)(dy[k] * mean[b][c] + dsum[b][c] / (H * W));
            }
    tu_assert_close("channel_mul y", rp_graph_forward(&o.g, x, B, false), want, N, 1e-6f, 1e-6f);
    rp_graph_backward(&o.g, dy, dx, false);
    tu_assert_close("channel_mul dx", dx, want_dx, N, 1e-5f, 1e-6f);
    tu_graph_free(&o);

    /* the scale must be 1x1 with the input's channels */
    tu_graph_init(&o, (rp_shape){H, W, C});
    assert_int_equal(rp_g_channel_mul(&o.g, RP_INPUT, RP_INPUT, "badmul"), -1);
    assert_int_equal(o.g.status, RP_ERR_SHAPE);
    assert_non_null(strstr(rp_ctx_error(o.ctx), "badmul"));
    tu_graph_free(&o);
    tu_graph_init(&o, (rp_shape){H, W, C});
    int c3 = rp_g_conv2d(&o.g, rp_g_global_avgpool(&o.g, RP_INPUT, "pool"), "fc", C - 1, 1, 1, 0, 1, true);
    assert_int_equal(rp_g_channel_mul(&o.g, RP_INPUT, c3, "badmul"), -1);
    assert_int_equal(o.g.status, RP_ERR_SHAPE);
    tu_graph_free(&o);
}

/* ---- concatenation --------------------------------------------------------------------- */

/* concat(x, conv1x1(x), conv3x3(x), conv1x1(x) again): repeated input, then a 1x1 conv
 * mixing every channel so each slice's gradient matters */
static int build_concat(rp_graph *g, int in, void *arg)
{
    (void)arg;
    int a = rp_g_conv2d(g, in, "a", 3, 1, 1, 0, 1, true);
    int b = rp_g_conv2d(g, in, "b", 2, 3, 1, 1, 1, false);
    int parts[4] = {in, a, b, a};
    int c = rp_g_concat(g, parts, 4, "cat");
    return rp_g_conv2d(g, c, "mix", 4, 1, 1, 0, 1, true);
}

/* DenseNet's growth: each layer reads the running concatenation and adds its own maps */
static int build_dense(rp_graph *g, int in, void *arg)
{
    (void)arg;
    int feats = in;
    for (int l = 0; l < 3; l++) {
        char name[16];
        snprintf(name, sizeof name, "conv%d", l);
        int n = rp_g_silu(g, rp_g_conv2d(g, feats, name, 2, 3, 1, 1, 1, false), "act");
        snprintf(name, sizeof name, "cat%d", l);
        int two[2] = {feats, n};
        feats = rp_g_concat(g, two, 2, name);
    }
    return feats;
}

/* build_concat is linear in its input and the convs' weights: atol 1e-3 as for linear layers.
 * The dense graph is smooth (SiLU; ReLU's kinks would spoil central differences): the
 * tolerances of the other smooth checks. */
static void test_concat_gradcheck(void **state)
{
    (void)state;
    tu_gc_opts o = {.B = 2, .eps = 1e-2f, .rtol = 1e-3f, .atol = 1e-3f, .max_checks = 200, .lo = -2, .hi = 2,
                    .seed = 120};
    tu_gradcheck((rp_shape){3, 4, 3}, build_concat, NULL, &o);
    tu_gc_opts d = {.B = 2, .eps = 1e-2f, .rtol = 1e-2f, .atol = 2e-3f, .max_checks = 200, .lo = -2, .hi = 2,
                    .seed = 121};
    tu_gradcheck((rp_shape){3, 3, 2}, build_dense, NULL, &d);
}

static void test_concat_values(void **state)
{
    (void)state;
    enum { B = 2, H = 2, W = 2, C = 3, P = B * H * W };
    tu_graph o;
    tu_graph_init(&o, (rp_shape){H, W, C});
    int r = rp_g_relu(&o.g, RP_INPUT, "r");
    int parts[3] = {RP_INPUT, r, RP_INPUT};
    int c = rp_g_concat(&o.g, parts, 3, "cat");
    assert_true(c >= 0);
    assert_int_equal(o.g.nodes[c].out_shape.C, 3 * C);
    assert_int_equal(rp_graph_finalize(&o.g, B, 1), RP_OK);
    float x[P * C], want[P * 3 * C], dy[P * 3 * C], dx[P * C], want_dx[P * C];
    for (int i = 0; i < P * C; i++) x[i] = (float)(i % 7) - 3.0f + 0.5f;
    for (int i = 0; i < P * 3 * C; i++) dy[i] = (float)i;
    for (int p = 0; p < P; p++)
        for (int k = 0; k < C; k++) {
            float v = x[p * C + k];
            want[p * 3 * C + k] = v;
            want[p * 3 * C + C + k] = v > 0 ? v : 0;
            want[p * 3 * C + 2 * C + k] = v;
            want_dx[p * C + k] = dy[p * 3 * C + k] + dy[p * 3 * C + 2 * C + k] + (v > 0 ? dy[p * 3 * C + C + k] : 0);
        }
    const float *y = rp_graph_forward(&o.g, x, B, false);
    tu_assert_close("concat y", y, want, P * 3 * C, 0, 0);
    rp_graph_backward(&o.g, dy, dx, false);
    tu_assert_close("concat dx", dx, want_dx, P * C, 0, 0);
    tu_graph_free(&o);

    tu_graph_init(&o, (rp_shape){H, W, C});
    int pool = rp_g_global_avgpool(&o.g, RP_INPUT, "pool");
    int bad[2] = {RP_INPUT, pool};
    assert_int_equal(rp_g_concat(&o.g, bad, 2, "badcat"), -1);
    assert_int_equal(o.g.status, RP_ERR_SHAPE);
    assert_non_null(strstr(rp_ctx_error(o.ctx), "badcat"));
    tu_graph_free(&o);
    int five[5] = {RP_INPUT, RP_INPUT, RP_INPUT, RP_INPUT, RP_INPUT};
    for (int k = 0; k <= RP_MAX_IN + 1; k += RP_MAX_IN + 1) {
        tu_graph_init(&o, (rp_shape){H, W, C});
        assert_int_equal(rp_g_concat(&o.g, five, k, "badcat"), -1);
        assert_int_equal(o.g.status, RP_ERR_ARG);
        tu_graph_free(&o);
    }
}

/* ---- stochastic depth -------------------------------------------------------------------- */

enum { SB = 4000, SH = 2, SW = 3, SC = 5, SS = SH * SW * SC };

static void make_sdepth(tu_graph *o, float p, uint64_t seed, int B)
{
    tu_graph_init(o, (rp_shape){SH, SW, SC});
    assert_true(rp_g_stochastic_depth(&o->g, RP_INPUT, "sd", p) >= 0);
    assert_int_equal(rp_graph_finalize(&o->g, B, seed), RP_OK);
}

static void test_stochastic_depth(void **state)
{
    (void)state;
    const float p = 0.2f;
    size_t N = (size_t)SB * SS;
    float *x = malloc(N * sizeof *x), *y1 = malloc(N * sizeof *y1), *dy = malloc(N * sizeof *dy),
          *dx = malloc(N * sizeof *dx);
    float kinks[] = {0.0f};
    tu_fill_away_from(x, N, -2, 2, kinks, 1, 0.05f, 130);
    tu_fill_uniform(dy, N, -1, 1, 131);
    tu_graph o, o2, o3;
    make_sdepth(&o, p, 5, SB);
    make_sdepth(&o2, p, 5, SB);
    make_sdepth(&o3, p, 6, SB);

    /* evaluation: identity, forward and backward (written: dx = 0 + dy) */
    assert_memory_equal(rp_graph_forward(&o.g, x, SB, false), x, N * sizeof(float));
    rp_graph_backward(&o.g, dy, dx, false);
    assert_memory_equal(dx, dy, N * sizeof(float));

    /* training: whole samples dropped, ~p of them (std of the fraction sqrt(p(1-p)/SB) =
     * 0.0063; 0.035 is > 5 sigma), the others scaled by 1/(1 - p) */
    memcpy(y1, rp_graph_forward(&o.g, x, SB, true), N * sizeof(float));
    int dropped = 0;
    for (int b = 0; b < SB; b++) {
        bool zero = y1[(size_t)b * SS] == 0.0f;
        dropped += zero;
        for (int i = 0; i < SS; i++) {
            size_t k = (size_t)b * SS + i;
            float want = zero ? 0.0f : x[k] * (1.0f / (1.0f - p));
            if (y1[k] != want) fail_msg("stochastic depth y[%zu] %g, want %g", k, (double)y1[k], (double)want);
        }
    }
    assert_true(fabs((double)dropped / SB - p) < 0.035);

    /* backward with that forward's factors */
    rp_graph_backward(&o.g, dy, dx, false);
    for (size_t k = 0; k < N; k++) {
        float want = y1[k - k % SS] == 0.0f ? 0.0f : dy[k] * (1.0f / (1.0f - p));
        if (dx[k] != want) fail_msg("stochastic depth dx[%zu] %g, want %g", k, (double)dx[k], (double)want);
    }

    /* same seed, same masks; another seed or the stream's next draw, others */
    assert_memory_equal(rp_graph_forward(&o2.g, x, SB, true), y1, N * sizeof(float));
    assert_memory_not_equal(rp_graph_forward(&o3.g, x, SB, true), y1, N * sizeof(float));
    assert_memory_not_equal(rp_graph_forward(&o.g, x, SB, true), y1, N * sizeof(float));
    tu_graph_free(&o);
    tu_graph_free(&o2);
    tu_graph_free(&o3);

    /* p = 0: identity in training too */
    make_sdepth(&o, 0.0f, 5, SB);
    assert_memory_equal(rp_graph_forward(&o.g, x, SB, true), x, N * sizeof(float));
    tu_graph_free(&o);
    free(x);
    free(y1);
    free(dy);
    free(dx);
}

/* A residual block with stochastic depth, x + sd(conv(x)), checked by central differences in
 * training mode with the mask held fixed (the same examples named before every forward):
 * the backward must use the mask its forward drew. B = 8 at p = 0.5: some samples dropped,
 * some kept (asserted). */
static void test_stochastic_depth_gradcheck(void **state)
{
    (void)state;
    enum { B = 8, H = 3, W = 3, C = 2 };
    size_t N = (size_t)B * H * W * C;
    tu_graph o;
    tu_graph_init(&o, (rp_shape){H, W, C});
    int c = rp_g_conv2d(&o.g, RP_INPUT, "conv", C, 3, 1, 1, 1, true);
    int sd = rp_g_stochastic_depth(&o.g, c, "sd", 0.5f);
    assert_true(rp_g_add(&o.g, RP_INPUT, sd, "res") >= 0);
    assert_int_equal(rp_graph_finalize(&o.g, B, 3), RP_OK);
    float x[B * H * W * C], r[B * H * W * C], dx[B * H * W * C];
    tu_fill_uniform(x, N, -2, 2, 140);
    tu_fill_uniform(r, N, -1, 1, 141);
    rp_graph_set_examples(&o.g, 0, NULL, 0, B);
    rp_graph_forward(&o.g, x, B, true);
    int kept = 0;
    for (int b = 0; b < B; b++) kept += o.g.nodes[sd].saved[b] != 0.0f;
    assert_true(kept > 0 && kept < B);
    rp_graph_zero_grad(&o.g);
    rp_graph_backward(&o.g, r, dx, true);
    rp_param *w = &o.g.params[rp_graph_find_param(&o.g, "conv.weight")];
    float *coords[2] = {x, w->data}, *grads[2] = {dx, w->grad};
    size_t sizes[2] = {N, w->numel};
    const float eps = 1e-2f;
    for (int t = 0; t < 2; t++)
        for (size_t i = 0; i < sizes[t]; i++) {
            double l[2];
            float keep = coords[t][i];
            for (int side = 0; side < 2; side++) {
                coords[t][i] = keep + (side ? -eps : eps);
                rp_graph_set_examples(&o.g, 0, NULL, 0, B);
                const float *y = rp_graph_forward(&o.g, x, B, true);
                l[side] = 0;
                for (size_t k = 0; k < N; k++) l[side] += (double)y[k] * r[k];
            }
            coords[t][i] = keep;
            double num = (l[0] - l[1]) / (2.0 * eps);
            /* linear in x and w: exact up to float rounding (atol 1e-3) */
            if (fabs(grads[t][i] - num) > 1e-3 + 1e-3 * fabs(num))
                fail_msg("stochastic depth gradcheck %s[%zu]: backward %g, differences %g", t ? "weight" : "input",
                         i, (double)grads[t][i], num);
        }
    tu_graph_free(&o);
}

static void test_stochastic_depth_bad_p(void **state)
{
    (void)state;
    const float bad[3] = {1.0f, -0.1f, NAN};
    for (int i = 0; i < 3; i++) {
        tu_graph o;
        tu_graph_init(&o, (rp_shape){1, 1, 4});
        assert_int_equal(rp_g_stochastic_depth(&o.g, RP_INPUT, "sd", bad[i]), -1);
        assert_int_equal(o.g.status, RP_ERR_ARG);
        assert_non_null(strstr(rp_ctx_error(o.ctx), "sd"));
        tu_graph_free(&o);
    }
}

/* ---- grouped convolution (ResNeXt's 3x3, groups = 32) ------------------------------------- */

typedef struct gconv_case {
    int OC, stride, groups;
} gconv_case;

static int build_gconv(rp_graph *g, int in, void *arg)
{
    const gconv_case *c = arg;
    return rp_g_conv2d(g, in, "conv", c->OC, 3, c->stride, 1, c->groups, false);
}

/* Linear: atol 1e-3 as for the other linear layers. 64 channels in 32 groups of 2 (and of 4
 * output channels), stride 1 and 2; 8 groups of 8. */
static void test_grouped_conv_gradcheck(void **state)
{
    (void)state;
    const gconv_case cases[] = {{64, 1, 32}, {128, 2, 32}, {64, 2, 8}};
    for (int i = 0; i < 3; i++) {
        tu_gc_opts o = {.B = 2, .eps = 1e-2f, .rtol = 1e-3f, .atol = 1e-3f, .max_checks = 150, .lo = -1, .hi = 1,
                        .seed = 150 + (uint64_t)i};
        tu_gradcheck((rp_shape){5, 4, 64}, build_gconv, (void *)&cases[i], &o);
    }
}

/* ---- plans and threads ------------------------------------------------------------------- */

/* conv -> bn -> SiLU, SE, concat, stochastic depth: a small EfficientNet-like block */
static int build_block(rp_graph *g, int in, void *arg)
{
    (void)arg;
    int e = rp_g_silu(g, rp_g_batchnorm2d(g, rp_g_conv2d(g, in, "expand", 32, 1, 1, 0, 1, false), "bn1", 1e-3f, 0.01f),
                      "act1");
    int d = rp_g_silu(g, rp_g_batchnorm2d(g, rp_g_conv2d(g, e, "dw", 32, 3, 1, 1, 32, false), "bn2", 1e-3f, 0.01f),
                      "act2");
    int se = build_se(g, d, NULL);
    int p = rp_g_batchnorm2d(g, rp_g_conv2d(g, se, "project", 16, 1, 1, 0, 1, false), "bn3", 1e-3f, 0.01f);
    int sd = rp_g_stochastic_depth(g, p, "sd", 0.3f);
    int res = rp_g_add(g, sd, in, "res");
    int two[2] = {res, in};
    return rp_g_concat(g, two, 2, "cat");
}

enum { PB = 4, PH = 16, PW = 16, PC = 16 };

/* OWNED: y, dx and every parameter gradient of one training or evaluation pass */
static float *run_block(unsigned options, bool train, int threads, const float *x, const float *dy, size_t *n)
{
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    tu_graph o;
    tu_graph_init(&o, (rp_shape){PH, PW, PC});
    int last = build_block(&o.g, RP_INPUT, NULL);
    assert_true(last >= 0);
    assert_int_equal(rp_graph_finalize(&o.g, PB, 9), RP_OK);
    o.g.options = options;
    size_t nx = (size_t)PB * PH * PW * PC, ny = (size_t)PB * rp_shape_numel(o.g.nodes[last].out_shape);
    size_t np = 0;
    for (int i = 0; i < o.g.n_params; i++) np += o.g.params[i].grad ? o.g.params[i].numel : 0;
    float *out = malloc((ny + nx + np) * sizeof *out);
    memcpy(out, rp_graph_forward(&o.g, x, PB, train), ny * sizeof(float));
    rp_graph_zero_grad(&o.g);
    rp_graph_backward(&o.g, dy, out + ny, true);
    size_t at = ny + nx;
    for (int i = 0; i < o.g.n_params; i++)
        if (o.g.params[i].grad) {
            memcpy(out + at, o.g.params[i].grad, o.g.params[i].numel * sizeof(float));
            at += o.g.params[i].numel;
        }
    *n = at;
    tu_graph_free(&o);
    omp_set_num_threads(saved);
    return out;
}

/* The plan's bit-identical fusions next to the new layers (a conv doing the batch norm before
 * a SiLU, in evaluation and training) give the plain run's bits, and inputs large enough to
 * take the threaded loops give the same bits with 1 and 2 threads. Chains and the training
 * fold agree only to rounding (tests/test_chain.c, tests/test_pwbn.c): off here. */
static void test_block_plans_and_threads(void **state)
{
    (void)state;
    size_t nx = (size_t)PB * PH * PW * PC, ny = 2 * nx;
    float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy);
    tu_fill_uniform(x, nx, -1, 1, 160);
    tu_fill_uniform(dy, ny, -1, 1, 161);
    for (int train = 0; train < 2; train++) {
        size_t n0, n1, n2;
        const unsigned exact = RP_OPT_NO_CHAIN | RP_OPT_NO_TRAIN_FOLD;
        float *fused = run_block(exact, train, 2, x, dy, &n0);
        float *plain = run_block(exact | RP_OPT_NO_FUSION, train, 2, x, dy, &n1);
        float *one = run_block(exact, train, 1, x, dy, &n2);
        assert_int_equal(n0, n1);
        assert_int_equal(n0, n2);
        assert_memory_equal(fused, plain, n0 * sizeof(float));
        assert_memory_equal(fused, one, n0 * sizeof(float));
        free(fused);
        free(plain);
        free(one);
    }
    free(x);
    free(dy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_silu_sigmoid_gradcheck),
        cmocka_unit_test(test_silu_sigmoid_values),
        cmocka_unit_test(test_channel_mul_gradcheck),
        cmocka_unit_test(test_channel_mul_values),
        cmocka_unit_test(test_concat_gradcheck),
        cmocka_unit_test(test_concat_values),
        cmocka_unit_test(test_stochastic_depth),
        cmocka_unit_test(test_stochastic_depth_gradcheck),
        cmocka_unit_test(test_stochastic_depth_bad_p),
        cmocka_unit_test(test_grouped_conv_gradcheck),
        cmocka_unit_test(test_block_plans_and_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
