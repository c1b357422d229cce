/* mobilenet_v2, resnet18, resnet18_cifar without PyTorch: torchvision's parameter counts,
 * key names and shapes, block structure, FLOPs, initialisation statistics, bad widths, and
 * finite-difference checks of the input gradient (and a few parameters) through a whole
 * tiny MobileNetV2 in evaluation and training mode. The PyTorch comparisons are in
 * test_models_ref.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_testutil.h"

static rp_model_config config(const char *arch, int classes, int H, float width)
{
    rp_model_config c = mtu_config(arch, classes, H, 1);
    c.width = width;
    return c;
}

static int count_kind(const rp_model *m, rp_layer_kind kind)
{
    return mtu_count_kind(&m->g, kind);
}

/* ---- structure: counts and keys from torchvision 0.14 ---------------------------------- */

/* torchvision's documented num_params: mobilenet_v2 3,504,872, resnet18 11,689,512 (1000
 * classes); 200 classes remove 800 * (1280 + 1) and 800 * (512 + 1); the CIFAR stem swaps a
 * 64x3x7x7 conv1 for 64x3x3x3 (-7,680). */
static void test_param_counts(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    struct { const char *arch; int classes; size_t params; } cases[] = {
        {"mobilenet_v2", 1000, 3504872},  {"mobilenet_v2", 200, 2480072},
        {"resnet18", 1000, 11689512},     {"resnet18", 200, 11279112},
        {"resnet18_cifar", 1000, 11681832},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rp_model_config c = config(cases[i].arch, cases[i].classes, 32, 0.0f);
        mtu_expect_params(ctx, &c, cases[i].params);
    }
    /* a real model agrees with the graph-only count */
    rp_model_config c = config("mobilenet_v2", 1000, 32, 0.0f);
    rp_model *m = mtu_create(ctx, &c);
    assert_int_equal(rp_model_num_params(m), 3504872);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

static void test_mobilenet_v2_keys(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config c = config("mobilenet_v2", 1000, 32, 1.0f);
    rp_model *m = mtu_create(ctx, &c);
    assert_int_equal(rp_model_num_tensors(m), 314); /* 158 parameters + 156 BN buffers */
    mtu_expect_shape(m, "features.0.0.weight", 4, 32, 3, 3, 3);
    mtu_expect_shape(m, "features.0.1.running_var", 1, 32, 0, 0, 0);
    mtu_expect_shape(m, "features.1.conv.0.0.weight", 4, 32, 1, 3, 3); /* t = 1: no expand */
    mtu_expect_shape(m, "features.1.conv.1.weight", 4, 16, 32, 1, 1);
    mtu_expect_shape(m, "features.1.conv.2.bias", 1, 16, 0, 0, 0);
    mtu_expect_shape(m, "features.2.conv.0.0.weight", 4, 96, 16, 1, 1);
    mtu_expect_shape(m, "features.2.conv.1.0.weight", 4, 96, 1, 3, 3);
    mtu_expect_shape(m, "features.2.conv.2.weight", 4, 24, 96, 1, 1);
    mtu_expect_shape(m, "features.2.conv.3.num_batches_tracked", 0, 0, 0, 0, 0);
    mtu_expect_shape(m, "features.14.conv.1.0.weight", 4, 576, 1, 3, 3);
    mtu_expect_shape(m, "features.17.conv.2.weight", 4, 320, 960, 1, 1);
    mtu_expect_shape(m, "features.18.0.weight", 4, 1280, 320, 1, 1);
    mtu_expect_shape(m, "classifier.1.weight", 2, 1000, 1280, 0, 0);
    mtu_expect_shape(m, "classifier.1.bias", 1, 1000, 0, 0, 0);
    /* residual iff stride 1 and in == out: blocks 3, 5, 6, 8, 9, 10, 12, 13, 15, 16 */
    assert_int_equal(count_kind(m, RP_LAYER_ADD), 10);
    assert_true(rp_graph_find_node(&m->g, "features.3") >= 0);
    assert_true(rp_graph_find_node(&m->g, "features.4") < 0);
    assert_int_equal(count_kind(m, RP_LAYER_RELU6), 35); /* 2 per block (1 in block 1) + 2 */
    assert_int_equal(count_kind(m, RP_LAYER_CONV2D), 52);
    assert_int_equal(count_kind(m, RP_LAYER_DROPOUT), 1);
    assert_int_equal(m->g.nodes[0].ops->kind, RP_LAYER_NORMALIZE);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

/* make_divisible(.., 8) at other widths: 0.35 gives 16 stem channels, 1.4 a 1792 head. */
static void test_mobilenet_v2_widths(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config c = config("mobilenet_v2", 10, 32, 0.35f);
    rp_model *m = mtu_create(ctx, &c);
    mtu_expect_shape(m, "features.0.0.weight", 4, 16, 3, 3, 3);
    mtu_expect_shape(m, "features.1.conv.1.weight", 4, 8, 16, 1, 1);  /* 16 * 0.35 = 5.6 -> 8 */
    mtu_expect_shape(m, "features.17.conv.2.weight", 4, 112, 336, 1, 1);
    mtu_expect_shape(m, "features.18.0.weight", 4, 1280, 112, 1, 1); /* 1280 * max(1, w) */
    rp_model_destroy(m);
    c = config("mobilenet_v2", 10, 32, 1.4f);
    m = mtu_create(ctx, &c);
    mtu_expect_shape(m, "features.0.0.weight", 4, 48, 3, 3, 3);
    mtu_expect_shape(m, "features.18.0.weight", 4, 1792, 448, 1, 1);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

static void test_resnet18_keys(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config c = config("resnet18", 1000, 32, 0.0f);
    rp_model *m = mtu_create(ctx, &c);
    assert_int_equal(rp_model_num_tensors(m), 122); /* 62 parameters + 60 BN buffers */
    mtu_expect_shape(m, "conv1.weight", 4, 64, 3, 7, 7);
    mtu_expect_shape(m, "layer1.0.conv1.weight", 4, 64, 64, 3, 3);
    mtu_expect_shape(m, "layer2.0.conv1.weight", 4, 128, 64, 3, 3);
    mtu_expect_shape(m, "layer2.0.downsample.0.weight", 4, 128, 64, 1, 1);
    mtu_expect_shape(m, "layer2.0.downsample.1.running_mean", 1, 128, 0, 0, 0);
    mtu_expect_shape(m, "layer4.1.bn2.weight", 1, 512, 0, 0, 0);
    mtu_expect_shape(m, "fc.weight", 2, 1000, 512, 0, 0);
    assert_int_equal(count_kind(m, RP_LAYER_ADD), 8);
    assert_int_equal(count_kind(m, RP_LAYER_MAXPOOL2D), 1);
    assert_int_equal(count_kind(m, RP_LAYER_CONV2D), 20); /* stem + 16 in blocks + 3 downsample */
    assert_true(rp_graph_find_param(&m->g, "layer1.0.downsample.0.weight") < 0);
    assert_true(rp_graph_find_node(&m->g, "layer4.1") == m->g.n_nodes - 4); /* block output */
    rp_model_destroy(m);
    c = config("resnet18_cifar", 10, 32, 0.0f);
    m = mtu_create(ctx, &c);
    mtu_expect_shape(m, "conv1.weight", 4, 64, 3, 3, 3);
    assert_int_equal(count_kind(m, RP_LAYER_MAXPOOL2D), 0);
    assert_int_equal(m->g.nodes[rp_graph_find_node(&m->g, "layer4.1")].out_shape.H, 4); /* 32/8 */
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

static void test_bad_width(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model *m = NULL;
    rp_model_config c = config("mobilenet_v2", 10, 32, -0.5f);
    assert_int_equal(rp_model_create(ctx, &c, &m), RP_ERR_ARG);
    assert_null(m);
    assert_non_null(strstr(rp_ctx_error(ctx), "width"));
    c = config("resnet18", 10, 32, 0.5f);
    assert_int_equal(rp_model_create(ctx, &c, &m), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(ctx), "no width multiplier"));
    rp_ctx_destroy(ctx);
}

/* ---- FLOPs ------------------------------------------------------------------------------ */

/* Conv and linear FLOPs of a graph built (not finalised) at H x H, 1000 classes. */
static double gemm_flops(const char *arch, int H, float width, double *all)
{
    rp_model_config c = config(arch, 1000, H, width);
    return mtu_gemm_flops(&c, all);
}

/* Multiply-adds of torchvision's convs and linears (counted by forward hooks in PyTorch):
 * mobilenet_v2 300,774,272 at 224 (torchvision's "0.30 GFLOPS"), resnet18 1,814,073,344
 * (its "1.81 GFLOPS"); FLOPs are twice that. */
static void test_flops(void **state)
{
    (void)state;
    double all = 0.0;
    assert_true(gemm_flops("mobilenet_v2", 224, 1.0f, &all) == 2.0 * 300774272.0);
    assert_true(all > 2.0 * 300774272.0 && all < 1.1 * 2.0 * 300774272.0);
    assert_true(gemm_flops("mobilenet_v2", 64, 1.0f, NULL) == 2.0 * 25728512.0);
    assert_true(gemm_flops("resnet18", 224, 0.0f, NULL) == 2.0 * 1814073344.0);
    /* rp_model_flops is the sum over nodes */
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config c = config("mobilenet_v2", 1000, 64, 0.0f);
    rp_model *m = mtu_create(ctx, &c);
    double total = 0.0;
    gemm_flops("mobilenet_v2", 64, 0.0f, &total);
    assert_true(rp_model_flops(m) == total);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

/* `rampart models` lists every architecture with torchvision's counts. */
static void test_cli_models(void **state)
{
    (void)state;
    const char *bin = getenv("RAMPART_BIN");
    if (!bin) skip();
    char cmd[1024], line[512];
    snprintf(cmd, sizeof cmd, "%s models --input-size 224 --num-classes 1000 --json", bin);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    int n = 0, mnv2 = 0, r18 = 0;
    while (fgets(line, sizeof line, f)) {
        n++;
        mnv2 += strstr(line, "\"arch\":\"mobilenet_v2\"") && strstr(line, "\"params\":3504872,") &&
                strstr(line, "\"width\":1,");
        r18 += strstr(line, "\"arch\":\"resnet18\"") && strstr(line, "\"params\":11689512,") != NULL;
    }
    assert_int_equal(pclose(f), 0);
    int archs = 0;
    for (const char *const *a = rp_model_archs(); *a; a++) archs++;
    assert_int_equal(n, archs);
    assert_int_equal(mnv2, 1);
    assert_int_equal(r18, 1);
    snprintf(cmd, sizeof cmd, "%s models --width 0 >/dev/null 2>&1", bin);
    assert_int_not_equal(system(cmd), 0);
}

/* ---- initialisation: torchvision's ----------------------------------------------------- */

static void moments(const rp_param *p, double *mean, double *sd)
{
    double s = 0, ss = 0;
    for (size_t i = 0; i < p->numel; i++) {
        s += p->data[i];
        ss += (double)p->data[i] * p->data[i];
    }
    *mean = s / (double)p->numel;
    *sd = sqrt(ss / (double)p->numel - *mean * *mean);
}

/* Sample std within 4 standard errors (sd * sqrt(1 / (2n))) of the target. */
static void expect_normal(const rp_model *m, const char *name, double sd_want)
{
    const rp_param *p = mtu_param(m, name);
    double mean, sd, se = sd_want / sqrt(2.0 * (double)p->numel);
    moments(p, &mean, &sd);
    if (fabs(sd - sd_want) > 4 * se || fabs(mean) > 4 * sd_want / sqrt((double)p->numel))
        fail_msg("%s: mean %g sd %g, want 0 and %g", name, mean, sd, sd_want);
}

static void expect_const(const rp_model *m, const char *name, float v)
{
    const rp_param *p = mtu_param(m, name);
    for (size_t i = 0; i < p->numel; i++)
        if (p->data[i] != v) fail_msg("%s[%zu] = %g, want %g", name, i, (double)p->data[i], (double)v);
}

/* kaiming_normal_(mode="fan_out"): sd = sqrt(2 / (OC * K * K)) (fan_out of a depthwise
 * [C,1,3,3] weight is 9C); mobilenet's linear N(0, 0.01); resnet's fc PyTorch's default
 * U(+-1/sqrt(512)). */
static void test_init(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config c = config("mobilenet_v2", 1000, 32, 1.0f);
    rp_model *m = mtu_create(ctx, &c);
    expect_normal(m, "features.0.0.weight", sqrt(2.0 / (32 * 9)));
    expect_normal(m, "features.7.conv.1.0.weight", sqrt(2.0 / (192 * 9)));
    expect_normal(m, "features.18.0.weight", sqrt(2.0 / 1280));
    expect_normal(m, "classifier.1.weight", 0.01);
    expect_const(m, "classifier.1.bias", 0.0f);
    expect_const(m, "features.5.conv.1.1.weight", 1.0f);
    expect_const(m, "features.5.conv.1.1.bias", 0.0f);
    expect_const(m, "features.5.conv.1.1.running_var", 1.0f);
    rp_model_destroy(m);
    c = config("resnet18", 1000, 32, 0.0f);
    m = mtu_create(ctx, &c);
    expect_normal(m, "conv1.weight", sqrt(2.0 / (64 * 49)));
    expect_normal(m, "layer3.1.conv2.weight", sqrt(2.0 / (256 * 9)));
    expect_normal(m, "layer3.0.downsample.0.weight", sqrt(2.0 / 256));
    expect_const(m, "layer4.1.bn2.weight", 1.0f); /* no zero_init_residual */
    const rp_param *fc = mtu_param(m, "fc.weight");
    double lim = 1.0 / sqrt(512.0), mean, sd;
    for (size_t i = 0; i < fc->numel; i++) assert_true(fabs(fc->data[i]) <= lim);
    moments(fc, &mean, &sd);
    assert_true(fabs(sd - lim / sqrt(3.0)) < 0.01 * lim);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

/* ---- finite differences through a whole tiny MobileNetV2 ------------------------------ */

/* A width-0.25 mobilenet_v2 on 64x64 inputs (ends at 2x2, so training-mode BatchNorm sees
 * 16 values per channel even in the last blocks), batch 4, 10 classes, made well
 * conditioned for float32 finite differences:
 *  - BatchNorm gamma in [0.6, 1.4], beta in [0.1, 0.5] (few ReLU6 channels dead for a whole
 *    batch), depthwise weights scaled from sd sqrt(2/9C) to 1/3 so that no depthwise output
 *    has a batch variance near BatchNorm's eps (training-mode BN would amplify by up to
 *    1/sqrt(eps) and the function would curve on the FD scale), classifier sd 0.05;
 *  - then running statistics from 30 training passes on random batches (non-trivial, and
 *    matching the data, so evaluation mode neither explodes nor vanishes).
 * loss = sum(logits * r) with fixed r, summed in double. Dropout (training mode) draws the
 * same mask in every pass: its stream is rewound before each forward.
 *
 * Central differences at two steps, eps 1e-4 and 1e-3 (pixel space for the input). The
 * network runs in float32: rounding puts ~1e-6 * |loss| of noise into the loss, i.e.
 * ~1e-6 (1 + |loss|) / (2 eps) into a difference quotient, which swamps small gradients at
 * the small step; large gradients (training mode, first layers) curve at the large step;
 * and a perturbation of any size crosses some of the ~10^6 ReLU6 kinks. So a coordinate
 * passes when either step agrees: |backward - numeric| <= 5% |numeric| + 2% of the tensor's
 * largest |gradient| + that noise floor. Agreement is ~1-2% on the largest gradients
 * (seen), not 1e-6; a wrong term, sign or factor fails both steps. The exact comparison
 * with PyTorch is test_models_ref. */
enum { FD_B = 4, FD_HW = 64, FD_K = 10, FD_NX = FD_B * FD_HW * FD_HW * 3 };
#define FD_RTOL 0.05
#define FD_ATOL_FRAC 0.02

typedef struct fd_model {
    rp_ctx *ctx;
    rp_model *m;
    float r[FD_B * FD_K];
    float *x;    /* (B, H, W, 3) in [0, 1] */
    bool train;
    double worst; /* largest fraction of the tolerance used */
} fd_model;

static double fd_loss(fd_model *f)
{
    rp_graph_set_examples(&f->m->g, 0, NULL, 0, FD_B); /* the same dropout masks in every pass */
    const float *y = rp_model_forward(f->m, f->x, FD_B, f->train);
    double s = 0.0;
    for (int i = 0; i < FD_B * FD_K; i++) s += (double)y[i] * f->r[i];
    return s;
}

static void fd_setup(fd_model *f, bool train)
{
    f->ctx = rp_ctx_create(1);
    rp_model_config c = config("mobilenet_v2", FD_K, FD_HW, 0.25f);
    c.max_batch = FD_B;
    c.mean[0] = c.mean[1] = c.mean[2] = 0.5f;
    c.std[0] = c.std[1] = c.std[2] = 0.25f;
    f->m = mtu_create(f->ctx, &c);
    rp_graph *g = &f->m->g;
    rp_rng rng;
    rp_rng_seed(&rng, 5, 99);
    for (int i = 0; i < g->n_params; i++) {
        rp_param *p = &g->params[i];
        const char *suffix = strrchr(p->name, '.') + 1;
        bool bn = strstr(p->name, "classifier") == NULL && p->ndim == 1;
        for (size_t k = 0; bn && k < p->numel; k++) {
            if (!strcmp(suffix, "weight")) p->data[k] = 0.6f + 0.8f * rp_rng_uniform(&rng);
            if (!strcmp(suffix, "bias")) p->data[k] = 0.1f + 0.4f * rp_rng_uniform(&rng);
        }
        if (p->ndim == 4 && p->shape[1] == 1) /* depthwise [C,1,3,3] */
            for (size_t k = 0; k < p->numel; k++) p->data[k] *= sqrtf((float)p->shape[0] / 2.0f);
        if (!strcmp(p->name, "classifier.1.weight"))
            for (size_t k = 0; k < p->numel; k++) p->data[k] = 0.05f * rp_rng_normal(&rng);
    }
    f->x = malloc(FD_NX * sizeof *f->x);
    for (int it = 0; it < 30; it++) {
        tu_fill_uniform(f->x, FD_NX, 0.0f, 1.0f, 100 + it);
        rp_model_forward(f->m, f->x, FD_B, true);
    }
    tu_fill_uniform(f->x, FD_NX, 0.0f, 1.0f, 11);
    tu_fill_uniform(f->r, FD_B * FD_K, -1.0f, 1.0f, 3);
    f->train = train;
    f->worst = 0.0;
}

static void fd_teardown(fd_model *f)
{
    free(f->x);
    rp_model_destroy(f->m);
    rp_ctx_destroy(f->ctx);
}

/* |backward - numeric| as a fraction of the tolerance, central differences with step eps. */
static double fd_error(fd_model *f, float *v, size_t i, float analytic, double gmax, float eps,
                       double *numeric)
{
    float keep = v[i];
    v[i] = keep + eps;
    double lp = fd_loss(f);
    v[i] = keep - eps;
    double lm = fd_loss(f);
    v[i] = keep;
    *numeric = (lp - lm) / (2.0 * eps);
    double noise = 1e-6 * (1.0 + fabs(lp)) / (2.0 * eps);
    double tol = FD_RTOL * fabs(*numeric) + FD_ATOL_FRAC * gmax + noise;
    return fabs(analytic - *numeric) / tol;
}

/* Checks `top` coordinates of v with the largest |analytic| and `spread` spread evenly. */
static void fd_check(fd_model *f, const char *what, float *v, const float *analytic, size_t n,
                     int top, int spread)
{
    float gmax = 0.0f;
    for (size_t i = 0; i < n; i++) gmax = fmaxf(gmax, fabsf(analytic[i]));
    assert_true(gmax > 0.0f);
    bool *used = calloc(n, sizeof *used);
    for (int c = 0; c < top + spread; c++) {
        size_t i = 0;
        if (c < top) {
            for (size_t k = 0; k < n; k++)
                if (!used[k] && (used[i] || fabsf(analytic[k]) > fabsf(analytic[i]))) i = k;
        } else {
            i = ((size_t)(c - top) * n / (size_t)spread + 1) % n;
            while (used[i]) i = (i + 1) % n;
        }
        used[i] = true;
        double small, large;
        double e = fmin(fd_error(f, v, i, analytic[i], gmax, 1e-4f, &small),
                        fd_error(f, v, i, analytic[i], gmax, 1e-3f, &large));
        f->worst = fmax(f->worst, e);
        if (!(e <= 1.0))
            fail_msg("%s[%zu] (%s mode): backward %.6g, finite differences %.6g (eps 1e-4), "
                     "%.6g (eps 1e-3)", what, i, f->train ? "train" : "eval", (double)analytic[i],
                     small, large);
    }
    free(used);
}

static void gradcheck_mode(bool train)
{
    fd_model f;
    fd_setup(&f, train);
    float *dx = malloc(FD_NX * sizeof *dx);
    fd_loss(&f);
    rp_model_zero_grad(f.m);
    rp_model_backward(f.m, f.r, dx, RP_GRAD_PARAMS | RP_GRAD_INPUT);
    fd_check(&f, "input", f.x, dx, FD_NX, 8, 8);
    static const char *names[] = {"features.0.0.weight", "features.2.conv.1.0.weight",
                                  "features.3.conv.2.weight", "features.5.conv.3.weight",
                                  "features.16.conv.0.1.bias", "classifier.1.weight"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        rp_param *p = &f.m->g.params[rp_graph_find_param(&f.m->g, names[k])];
        float *grad = malloc(p->numel * sizeof *grad);
        memcpy(grad, p->grad, p->numel * sizeof *grad);
        fd_check(&f, names[k], p->data, grad, p->numel, 3, 3);
        free(grad);
    }
    print_message("mobilenet_v2 w0.25 %s mode: worst |backward - FD| is %.2f of the tolerance\n",
                  train ? "train" : "eval", f.worst);
    free(dx);
    fd_teardown(&f);
}

static void test_gradcheck_eval(void **state)
{
    (void)state;
    gradcheck_mode(false);
}

static void test_gradcheck_train(void **state)
{
    (void)state;
    gradcheck_mode(true);
}

/* rp_model_weights_hash: equal for two models built from one seed and after a checkpoint round
 * trip, different for another seed, and changed by a training-mode forward (the batch norms'
 * running statistics are buffers, hashed too). */
static void test_weights_hash(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config c = config("mobilenet_v2", 5, 32, 0.25f), d = c;
    d.seed = c.seed + 1;
    rp_model *a, *b, *o, *l;
    assert_int_equal(rp_model_create(ctx, &c, &a), RP_OK);
    assert_int_equal(rp_model_create(ctx, &c, &b), RP_OK);
    assert_int_equal(rp_model_create(ctx, &d, &o), RP_OK);
    uint64_t h = rp_model_weights_hash(a);
    assert_true(h == rp_model_weights_hash(b));
    assert_true(h != rp_model_weights_hash(o));
    float x[32 * 32 * 3];
    tu_fill_uniform(x, sizeof x / sizeof x[0], 0.0f, 1.0f, 7);
    rp_model_forward(b, x, 1, true);
    uint64_t moved = rp_model_weights_hash(b);
    assert_true(moved != h);
    char path[512];
    snprintf(path, sizeof path, "%s/hash.safetensors", tu_tmpdir());
    assert_int_equal(rp_model_save(ctx, b, path, NULL), RP_OK);
    assert_int_equal(rp_model_load(ctx, path, 1, &l), RP_OK);
    assert_true(rp_model_weights_hash(l) == moved);
    rp_model_destroy(a), rp_model_destroy(b), rp_model_destroy(o), rp_model_destroy(l);
    rp_ctx_destroy(ctx);
}

/* rp_model_layer lists every layer: names unique and non-empty, the last layer's output the
 * logits, parameters summing to rp_model_num_params and FLOPs to rp_model_flops; an index out
 * of range or a NULL output is RP_ERR_ARG with a message. */
static void test_layer_listing(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config c = config("resnet18", 6, 32, 0.0f);
    rp_model *m;
    assert_int_equal(rp_model_create(ctx, &c, &m), RP_OK);
    int n = rp_model_num_layers(m);
    size_t params = 0;
    double flops = 0.0;
    rp_layer_info l, prev = {0};
    for (int i = 0; i < n; i++, prev = l) {
        assert_int_equal(rp_model_layer(ctx, m, i, &l), RP_OK);
        assert_true(l.name[0] && l.kind[0] && l.H > 0 && l.W > 0 && l.C > 0 && l.flops > 0.0);
        assert_true(strcmp(l.name, prev.name) != 0);
        params += l.params, flops += l.flops;
    }
    assert_true(l.H == 1 && l.W == 1 && l.C == 6 && !strcmp(l.kind, "linear") && !strcmp(l.name, "fc"));
    assert_int_equal(params, rp_model_num_params(m));
    assert_float_equal(flops, rp_model_flops(m), 1e-9 * flops);
    assert_int_equal(rp_model_layer(ctx, m, n, &l), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(ctx), "outside"));
    assert_int_equal(rp_model_layer(ctx, m, 0, NULL), RP_ERR_ARG);
    assert_int_equal(rp_model_layer(ctx, NULL, 0, &l), RP_ERR_ARG);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    rp_set_threads(1); /* many small forwards: threads would only add barriers */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_param_counts),
        cmocka_unit_test(test_mobilenet_v2_keys),
        cmocka_unit_test(test_mobilenet_v2_widths),
        cmocka_unit_test(test_resnet18_keys),
        cmocka_unit_test(test_bad_width),
        cmocka_unit_test(test_flops),
        cmocka_unit_test(test_cli_models),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_gradcheck_eval),
        cmocka_unit_test(test_gradcheck_train),
        cmocka_unit_test(test_weights_hash),
        cmocka_unit_test(test_layer_listing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
