/* mobilenet_v2, resnet18 and resnet18_cifar against torchvision 0.14 (tests/reference/
 * models.py): the same weights (torchvision's state_dict keys, loaded with
 * rp_model_load_weights), the same inputs, float64 references.
 *
 * Asserted, per model:
 *  - key names in torchvision's state_dict order; parameter counts at 10, 200 and 1000
 *    classes equal torchvision's (also for mobilenet_v2 widths 0.35, 0.5, 1.0, 1.4);
 *    conv + linear FLOPs equal 2 x the multiply-adds PyTorch's forward hooks count;
 *  - eval mode: logits max |diff| <= 1e-4; the input gradient of the mean cross-entropy
 *    within relative L2 error 1e-3 and max |diff| <= 1e-3 * max |ref|;
 *  - train mode (batch statistics; mobilenet_v2 built with dropout 0, as the reference):
 *    logits max |diff| <= 1e-4; loss relative error <= 1e-3; every parameter gradient within
 *    relative L2 error 1e-3 (whole tensors for mobilenet_v2 also max |diff| <= 1e-3 * max
 *    |ref|; for the ResNets 256 sampled elements plus the whole tensor's norm); the input
 *    gradient as in eval mode; running mean/var after the pass within rtol 1e-4 / atol 1e-5,
 *    num_batches_tracked exact.
 * The reference keeps every ReLU/ReLU6 input >= 1e-5 from its kinks (asserted from the
 * metadata; see models.py's randomize), so float rounding cannot flip a mask. The largest
 * errors seen are printed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "nn/model.h"
#include "testutil.h"

#define LOGIT_ATOL 1e-4
#define GRAD_RTOL 1e-3
#define LOSS_RTOL 1e-3

typedef struct ref {
    rp_ctx *ctx;
    rp_st_file *f;
    char name[64];
} ref;

static void ref_open(ref *r, rp_ctx *ctx, const char *file)
{
    char path[512];
    r->ctx = ctx;
    snprintf(r->name, sizeof r->name, "%s", file);
    if (rp_st_open(ctx, tu_ref_path(path, sizeof path, file), &r->f) != RP_OK)
        fail_msg("%s", rp_ctx_error(ctx));
}

static const char *meta(const ref *r, const char *key)
{
    const char *v = rp_st_meta(r->f, key);
    if (!v) fail_msg("%s: no metadata %s", r->name, key);
    return v;
}

static long meta_long(const ref *r, const char *key) { return strtol(meta(r, key), NULL, 10); }

/* OWNED: tensor as float32; *n gets its element count. */
static float *ref_read(const ref *r, const char *key, size_t *n)
{
    const rp_st_tensor *t = rp_st_find(r->f, key);
    if (!t) fail_msg("%s: no tensor %s", r->name, key);
    float *v = malloc((t->numel ? t->numel : 1) * sizeof *v);
    if (rp_st_read_f32(r->ctx, r->f, key, v, t->numel) != RP_OK) fail_msg("%s", rp_ctx_error(r->ctx));
    if (n) *n = t->numel;
    return v;
}

/* (B, C, H, W) <-> (B, H, W, C) */
static void nchw_nhwc(float *dst, const float *src, int B, int C, int H, int W, bool to_nhwc)
{
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H * W; i++) {
                size_t chw = ((size_t)b * C + c) * H * W + i, hwc = ((size_t)b * H * W + i) * C + c;
                if (to_nhwc) dst[hwc] = src[chw];
                else dst[chw] = src[hwc];
            }
}

/* OWNED: a parameter's gradient in PyTorch's layout (OHWI -> OIHW). */
static float *grad_torch_layout(const rp_param *p)
{
    float *g = malloc(p->numel * sizeof *g);
    if (p->layout != RP_LAYOUT_OHWI) {
        memcpy(g, p->grad, p->numel * sizeof *g);
        return g;
    }
    size_t O = (size_t)p->shape[0], I = (size_t)p->shape[1], KK = (size_t)(p->shape[2] * p->shape[3]);
    for (size_t o = 0; o < O; o++)
        for (size_t k = 0; k < KK; k++)
            for (size_t i = 0; i < I; i++) g[(o * I + i) * KK + k] = p->grad[(o * KK + k) * I + i];
    return g;
}

typedef struct errs {
    double logits, loss, grad, dx, zero;
} errs;

static double rel_l2(const float *a, const float *b, size_t n)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)b[i] * b[i];
    }
    return s > 0 ? sqrt(d / s) : sqrt(d);
}

static double max_abs_diff(const float *a, const float *b, size_t n, double *ref_max)
{
    double m = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        m = fmax(m, fabs((double)a[i] - b[i]));
        r = fmax(r, fabs((double)b[i]));
    }
    if (ref_max) *ref_max = r;
    return m;
}

/* Relative L2 <= GRAD_RTOL and (when elementwise) max |diff| <= GRAD_RTOL * max |ref|.
 * Returns the relative L2 error. */
static double expect_grad(const char *what, const float *got, const float *want, size_t n,
                          bool elementwise)
{
    double rel = rel_l2(got, want, n), ref_max, md = max_abs_diff(got, want, n, &ref_max);
    if (!(rel <= GRAD_RTOL)) fail_msg("%s: relative L2 error %.3g > %g", what, rel, GRAD_RTOL);
    if (elementwise && !(md <= GRAD_RTOL * ref_max))
        fail_msg("%s: max |diff| %.3g > %g * max |ref| %.3g", what, md, GRAD_RTOL, ref_max);
    return rel;
}

static void expect_logits(const char *what, const float *got, const float *want, size_t n, errs *e)
{
    double md = max_abs_diff(got, want, n, NULL);
    if (!(md <= LOGIT_ATOL)) fail_msg("%s: logits max |diff| %.3g > %g", what, md, LOGIT_ATOL);
    e->logits = fmax(e->logits, md);
}

/* ---- the model ----------------------------------------------------------------------- */

static rp_model_config config_of(const ref *r, const char *arch, int classes)
{
    rp_model_config c = {.arch = arch, .num_classes = classes, .C = 3,
                         .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f},
                         .seed = 1};
    c.H = (int)meta_long(r, "H");
    c.W = (int)meta_long(r, "W");
    c.max_batch = (int)meta_long(r, "B");
    c.width = strtof(meta(r, "width"), NULL);
    float mean[3], std[3];
    if (sscanf(meta(r, "mean"), "[%f, %f, %f]", &mean[0], &mean[1], &mean[2]) != 3 ||
        sscanf(meta(r, "std"), "[%f, %f, %f]", &std[0], &std[1], &std[2]) != 3)
        fail_msg("%s: mean/std metadata", r->name);
    for (int i = 0; i < 3; i++) assert_true(mean[i] == c.mean[i] && std[i] == c.std[i]);
    return c;
}

/* mobilenet_v2 without the classifier dropout (torch's reference pass sets p = 0): the
 * model rp_model_create would make, built with rp_build_mobilenet_v2_dropout. */
static rp_model *create_without_dropout(rp_ctx *ctx, const rp_model_config *c)
{
    rp_model *m = calloc(1, sizeof *m);
    m->ctx = ctx;
    m->cfg = *c;
    snprintf(m->arch, sizeof m->arch, "%s", c->arch);
    m->cfg.arch = m->arch;
    rp_graph_init(&m->g, ctx, (rp_shape){c->H, c->W, c->C});
    assert_true(rp_build_mobilenet_v2_dropout(&m->g, &m->cfg, 0.0f) >= 0);
    assert_int_equal(rp_graph_finalize(&m->g, c->max_batch, c->seed), RP_OK);
    return m;
}

/* Every tensor NaN, then the weight files: whatever is not loaded stays NaN. */
static void load(rp_model *m, const char *const *files)
{
    for (int i = 0; i < m->g.n_params; i++)
        for (size_t k = 0; k < m->g.params[i].numel; k++) m->g.params[i].data[k] = NAN;
    char path[512];
    for (int i = 0; files[i]; i++)
        if (rp_model_load_weights(m->ctx, m, tu_ref_path(path, sizeof path, files[i]), true) != RP_OK)
            fail_msg("%s", rp_ctx_error(m->ctx));
    if (rp_model_check_finite(m->ctx, m) != RP_OK) fail_msg("not loaded: %s", rp_ctx_error(m->ctx));
}

/* Names in torchvision's state_dict order. */
static void expect_keys(const rp_model *m, const ref *r)
{
    char *keys = strdup(meta(r, "keys")), *save = NULL;
    int i = 0;
    for (char *k = strtok_r(keys, ",", &save); k; k = strtok_r(NULL, ",", &save), i++) {
        if (i >= m->g.n_params) fail_msg("%s: torchvision has more tensors than %d", m->arch, i);
        if (strcmp(k, m->g.params[i].name))
            fail_msg("%s: tensor %d is %s, torchvision's is %s", m->arch, i, m->g.params[i].name, k);
    }
    assert_int_equal(i, m->g.n_params);
    free(keys);
}

static void expect_param_counts(rp_ctx *ctx, const ref *r, const char *arch)
{
    static const struct { int classes; const char *key; } K[] = {{1000, "params_1000"}, {200, "params_200"}};
    for (int i = 0; i < 2; i++) {
        rp_model_config c = config_of(r, arch, K[i].classes);
        rp_graph g; /* counted from the graph, before any allocation */
        rp_graph_init(&g, ctx, (rp_shape){c.H, c.W, 3});
        assert_true(rp_arch_find(arch)->build(&g, &c) >= 0);
        size_t n = 0;
        for (int p = 0; p < g.n_params; p++) n += g.params[p].trainable ? g.params[p].numel : 0;
        assert_int_equal(n, (size_t)meta_long(r, K[i].key));
        rp_graph_free(&g);
    }
}

/* ---- one case ---------------------------------------------------------------------------- */

static void eval_pass(rp_model *m, const ref *r, const float *x, const int32_t *y, int B, int K,
                      errs *e)
{
    size_t n;
    float *want = ref_read(r, "eval_logits", &n);
    assert_int_equal(n, (size_t)B * K);
    const float *logits = rp_model_forward(m, x, B, false);
    expect_logits("eval", logits, want, n, e);
    float *dl = malloc(n * sizeof *dl);
    rp_softmax_xent(logits, y, B, K, 0.0f, dl, 1.0f, NULL);
    size_t nx;
    float *dx_ref = ref_read(r, "eval_dx", &nx), *dx = malloc(nx * sizeof *dx);
    float *dx_torch = malloc(nx * sizeof *dx_torch);
    rp_model_backward(m, dl, dx, RP_GRAD_INPUT);
    const rp_model_config *c = rp_model_get_config(m);
    nchw_nhwc(dx_torch, dx, B, 3, c->H, c->W, false);
    e->dx = fmax(e->dx, expect_grad("eval input gradient", dx_torch, dx_ref, nx, true));
    free(want);
    free(dl);
    free(dx_ref);
    free(dx);
    free(dx_torch);
}

/* L2 norm of the reference gradient of p (whole tensor). */
static double ref_grad_norm(const ref *r, const rp_param *p, bool sampled)
{
    char key[96];
    snprintf(key, sizeof key, "%s.%s", sampled ? "gnorm" : "grad", p->name);
    size_t n;
    float *g = ref_read(r, key, &n);
    double s = 0;
    for (size_t k = 0; k < n; k++) s += (double)g[k] * g[k];
    free(g);
    return sqrt(s);
}

/* Training-mode gradients. Some are zero by structure: the bias of a BatchNorm whose
 * output only reaches 1x1 convs followed by training-mode BatchNorm (MobileNetV2's
 * projection BNs) shifts what the next BN subtracts again. Their reference norms are
 * ~1e-16 (float64 rounding); rampart's must be float rounding too: <= 1e-5 * the largest
 * gradient norm. A tensor counts as such when its reference norm is < 1e-9 * the largest. */
static void expect_param_grads(rp_model *m, const ref *r, bool sampled, errs *e)
{
    double gmax = 0;
    for (int i = 0; i < m->g.n_params; i++)
        if (m->g.params[i].trainable) gmax = fmax(gmax, ref_grad_norm(r, &m->g.params[i], sampled));
    for (int i = 0; i < m->g.n_params; i++) {
        const rp_param *p = &m->g.params[i];
        char key[96];
        if (!p->trainable) {
            snprintf(key, sizeof key, "new.%s", p->name);
            size_t n;
            float *want = ref_read(r, key, &n);
            assert_int_equal(n, p->numel);
            if (p->is_int64) assert_true(p->data[0] == want[0]);
            else tu_assert_close(key, p->data, want, n, 1e-4f, 1e-5f);
            free(want);
            continue;
        }
        float *got = grad_torch_layout(p);
        double norm = 0;
        for (size_t k = 0; k < p->numel; k++) norm += (double)got[k] * got[k];
        norm = sqrt(norm);
        double ref_norm = ref_grad_norm(r, p, sampled);
        if (ref_norm < 1e-9 * gmax) {
            if (!(norm <= 1e-5 * gmax))
                fail_msg("%s: gradient norm %.3g where torch's is %.3g (zero by structure)", p->name, norm, ref_norm);
            e->zero = fmax(e->zero, norm / gmax);
            free(got);
            continue;
        }
        size_t n;
        snprintf(key, sizeof key, "grad.%s", p->name);
        float *want = ref_read(r, key, &n);
        if (!sampled) {
            assert_int_equal(n, p->numel);
            e->grad = fmax(e->grad, expect_grad(key, got, want, n, true));
        } else {
            float *pick = malloc(n * sizeof *pick);
            for (size_t k = 0; k < n; k++) pick[k] = got[k * p->numel / n];
            e->grad = fmax(e->grad, expect_grad(key, pick, want, n, false));
            double rel = fabs(norm - ref_norm) / ref_norm;
            if (!(rel <= GRAD_RTOL)) fail_msg("%s: gradient norm %.6g, torch %.6g", p->name, norm, ref_norm);
            e->grad = fmax(e->grad, rel);
            free(pick);
        }
        free(want);
        free(got);
    }
}

static void train_pass(rp_model *m, const ref *r, const float *x, const int32_t *y, int B, int K,
                       errs *e)
{
    size_t n;
    float *want = ref_read(r, "train_logits", &n), *loss_ref = ref_read(r, "train_loss", NULL);
    rp_model_zero_grad(m);
    const float *logits = rp_model_forward(m, x, B, true);
    expect_logits("train", logits, want, n, e);
    float *dl = malloc(n * sizeof *dl);
    float loss = rp_softmax_xent(logits, y, B, K, 0.0f, dl, 1.0f, NULL);
    double rel = fabs((double)loss - loss_ref[0]) / fabs((double)loss_ref[0]);
    if (!(rel <= LOSS_RTOL)) fail_msg("train loss %.7g, torch %.7g", (double)loss, (double)loss_ref[0]);
    e->loss = fmax(e->loss, rel);
    size_t nx;
    float *dx_ref = ref_read(r, "train_dx", &nx), *dx = malloc(nx * sizeof *dx);
    float *dx_torch = malloc(nx * sizeof *dx_torch);
    rp_model_backward(m, dl, dx, RP_GRAD_PARAMS | RP_GRAD_INPUT);
    const rp_model_config *c = rp_model_get_config(m);
    nchw_nhwc(dx_torch, dx, B, 3, c->H, c->W, false);
    e->dx = fmax(e->dx, expect_grad("train input gradient", dx_torch, dx_ref, nx, true));
    expect_param_grads(m, r, meta_long(r, "grad_samples") > 0, e);
    free(want);
    free(loss_ref);
    free(dl);
    free(dx_ref);
    free(dx);
    free(dx_torch);
}

static void run_case(const char *arch, const char *const *weights)
{
    rp_ctx *ctx = rp_ctx_create(2);
    ref r;
    char file[96];
    snprintf(file, sizeof file, "models_%s.safetensors", arch);
    ref_open(&r, ctx, file);
    assert_string_equal(meta(&r, "arch"), arch);
    /* no ReLU/ReLU6 input within 1e-5 of a kink: float rounding cannot flip a mask */
    assert_true(strtod(meta(&r, "kink_margin"), NULL) >= 1e-5);
    int K = (int)meta_long(&r, "num_classes");
    rp_model_config c = config_of(&r, arch, K);
    int B = c.max_batch;
    size_t nx, ny;
    float *x_nchw = ref_read(&r, "x", &nx), *yf = ref_read(&r, "labels", &ny);
    assert_int_equal(nx, (size_t)B * 3 * c.H * c.W);
    float *x = malloc(nx * sizeof *x);
    nchw_nhwc(x, x_nchw, B, 3, c.H, c.W, true);
    int32_t *y = malloc(ny * sizeof *y);
    for (size_t i = 0; i < ny; i++) y[i] = (int32_t)yf[i];

    expect_param_counts(ctx, &r, arch);
    errs e = {0};
    rp_model *m = NULL;
    if (rp_model_create(ctx, &c, &m) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    expect_keys(m, &r);
    load(m, weights);
    eval_pass(m, &r, x, y, B, K, &e);
    if (!strcmp(arch, "mobilenet_v2")) { /* training mode without dropout */
        rp_model_destroy(m);
        m = create_without_dropout(ctx, &c);
        load(m, weights);
    }
    m->g.options = RP_OPT_NO_TRAIN_FOLD; /* the layer-by-layer training path */
    train_pass(m, &r, x, y, B, K, &e);
    /* again with every pointwise conv that widens its input doing the batch norm after it
     * (kernels/pwbn.h), from the same weights and running statistics */
    load(m, weights);
    m->g.options = RP_OPT_TRAIN_FOLD_ALWAYS;
    train_pass(m, &r, x, y, B, K, &e);
    int folded = rp_plan_count(m->g.last_plan, RP_STEP_CONV_BN_TRAIN);
    if (!strcmp(arch, "mobilenet_v2") && folded < 17) /* features.2-17's expand convs and features.18 */
        fail_msg("%s: only %d convs did their batch norm in training", arch, folded);
    print_message("%s: logits max|diff| %.3g, loss rel %.3g, worst param grad rel L2 %.3g, "
                  "input grad rel L2 %.3g, structurally zero grads %.3g of the largest\n", arch,
                  e.logits, e.loss, e.grad, e.dx, e.zero);
    rp_model_destroy(m);
    free(x_nchw);
    free(x);
    free(yf);
    free(y);
    rp_st_close(r.f);
    rp_ctx_destroy(ctx);
}

static void test_mobilenet_v2(void **state)
{
    (void)state;
    const char *w[] = {"models_mobilenet_v2_weights.safetensors", NULL};
    run_case("mobilenet_v2", w);
}

static void test_resnet18(void **state)
{
    (void)state;
    const char *w[] = {"models_resnet_body_weights.safetensors", "models_resnet18_conv1.safetensors", NULL};
    run_case("resnet18", w);
}

static void test_resnet18_cifar(void **state)
{
    (void)state;
    const char *w[] = {"models_resnet_body_weights.safetensors",
                       "models_resnet18_cifar_conv1.safetensors", NULL};
    run_case("resnet18_cifar", w);
}

/* Parameter counts and conv + linear FLOPs against torchvision at several widths/sizes. */
static void test_counts(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    ref r;
    ref_open(&r, ctx, "models_counts.safetensors");
    struct { const char *arch, *width_key; float width; int sizes[2]; } A[] = {
        {"mobilenet_v2", "1.0", 1.0f, {224, 64}}, {"mobilenet_v2", "0.5", 0.5f, {224, 64}},
        {"mobilenet_v2", "0.35", 0.35f, {224, 64}}, {"mobilenet_v2", "1.4", 1.4f, {224, 64}},
        {"resnet18", "1.0", 0.0f, {224, 64}}, {"resnet18_cifar", "1.0", 0.0f, {32, 64}},
    };
    static const int CLASSES[3] = {1000, 200, 10};
    for (size_t a = 0; a < sizeof A / sizeof A[0]; a++) {
        for (int k = 0; k < 3; k++) {
            for (int s = 0; s < 2; s++) {
                rp_model_config c = {.arch = A[a].arch, .num_classes = CLASSES[k], .H = A[a].sizes[s],
                                     .W = A[a].sizes[s], .C = 3, .std = {1, 1, 1}, .width = A[a].width};
                rp_graph g;
                rp_graph_init(&g, ctx, (rp_shape){c.H, c.W, 3});
                assert_true(rp_arch_find(c.arch)->build(&g, &c) >= 0);
                size_t params = 0;
                double gemm = 0;
                for (int p = 0; p < g.n_params; p++) params += g.params[p].trainable ? g.params[p].numel : 0;
                for (int i = 0; i < g.n_nodes; i++)
                    if (g.nodes[i].ops->kind == RP_LAYER_CONV2D || g.nodes[i].ops->kind == RP_LAYER_LINEAR)
                        gemm += rp_graph_node_flops(&g, i);
                rp_graph_free(&g);
                char key[96];
                snprintf(key, sizeof key, "params.%s.%s.%d", A[a].arch, A[a].width_key, CLASSES[k]);
                if ((long)params != meta_long(&r, key))
                    fail_msg("%s: rampart %zu, torchvision %ld", key, params, meta_long(&r, key));
                if (k != 0) continue; /* FLOPs at 1000 classes */
                snprintf(key, sizeof key, "macs.%s.%s.%d", A[a].arch, A[a].width_key, c.H);
                if (gemm != 2.0 * (double)meta_long(&r, key))
                    fail_msg("%s: rampart %.0f FLOPs, torchvision 2 x %ld", key, gemm, meta_long(&r, key));
            }
        }
    }
    rp_st_close(r.f);
    rp_ctx_destroy(ctx);
}

/* scripts/export_torchvision.py writes a state_dict rampart loads as is (every tensor, the
 * I64 counters included). */
static void test_export_script(void **state)
{
    (void)state;
    const char *py = getenv("RAMPART_TORCH_PYTHON"), *src = getenv("RAMPART_SOURCE_DIR");
    if (!py || !src) skip();
    char out[512], cmd[2048];
    snprintf(out, sizeof out, "%s/mnv2_export.safetensors", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "%s %s/scripts/export_torchvision.py mobilenet_v2 %s --width 0.5 "
             "--num-classes 10 --seed 3 >/dev/null", py, src, out);
    assert_int_equal(system(cmd), 0);
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config c = {.arch = "mobilenet_v2", .num_classes = 10, .H = 32, .W = 32, .C = 3,
                         .std = {1, 1, 1}, .max_batch = 1, .width = 0.5f};
    rp_model *m = NULL;
    assert_int_equal(rp_model_create(ctx, &c, &m), RP_OK);
    if (rp_model_load_weights(ctx, m, out, false) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    rp_set_threads(1); /* tolerances, not bits, are compared; threads only add barriers here */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_mobilenet_v2),
        cmocka_unit_test(test_resnet18),
        cmocka_unit_test(test_resnet18_cifar),
        cmocka_unit_test(test_export_script),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
