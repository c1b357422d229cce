#include "model_testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/conv2d.h"

/* ---- models ------------------------------------------------------------------------------ */

rp_model_config mtu_config(const char *arch, int classes, int H, int max_batch)
{
    rp_model_config c = {.arch = arch, .num_classes = classes, .H = H, .W = H, .C = 3,
                         .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f},
                         .max_batch = max_batch, .seed = 7};
    return c;
}

rp_model *mtu_create(rp_ctx *ctx, const rp_model_config *c)
{
    rp_model *m = NULL;
    if (rp_model_create(ctx, c, &m) != RP_OK) fail_msg("%s: %s", c->arch, rp_ctx_error(ctx));
    return m;
}

rp_model *mtu_model_begin(rp_ctx *ctx, const rp_model_config *c)
{
    rp_model *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->ctx = ctx;
    m->cfg = *c;
    snprintf(m->arch, sizeof m->arch, "%s", c->arch);
    m->cfg.arch = m->arch;
    rp_graph_init(&m->g, ctx, (rp_shape){c->H, c->W, c->C});
    return m;
}

void mtu_model_finish(rp_model *m)
{
    assert_int_equal(rp_graph_finalize(&m->g, m->cfg.max_batch, m->cfg.seed), RP_OK);
}

rp_model *mtu_masked_model(rp_ctx *ctx, int H, int W, int C, int K, int B)
{
    const rp_model_config c = {.arch = "masked", .num_classes = K, .H = H, .W = W, .C = C, .max_batch = B, .seed = 3};
    rp_model *m = mtu_model_begin(ctx, &c);
    rp_graph *g = &m->g;
    int x = rp_g_relu(g, rp_g_conv2d(g, RP_INPUT, "conv0", 8, 3, 1, 1, 1, true), "relu0");
    int r = rp_g_stochastic_depth(g, rp_g_conv2d(g, x, "conv1", 8, 3, 1, 1, 1, true), "sd", 0.5f);
    x = rp_g_global_avgpool(g, rp_g_add(g, x, r, "res"), "pool");
    x = rp_g_linear(g, rp_g_dropout(g, rp_g_flatten(g, x, "flat"), "drop", 0.5f), "fc", K, true);
    assert_true(x >= 0);
    mtu_model_finish(m);
    return m;
}

rp_model *mtu_trained_mlp(rp_ctx *ctx, rp_dataset *tr, int n_train, int train_b, int max_batch)
{
    rp_dataset_truncate(tr, n_train);
    int H, W, C;
    rp_dataset_shape(tr, &H, &W, &C);
    rp_model_config mc = {.arch = "mlp", .num_classes = rp_dataset_num_classes(tr), .H = H, .W = W, .C = C,
                          .max_batch = max_batch, .seed = 3};
    rp_dataset_norm(tr, mc.mean, mc.std);
    rp_model *m = NULL;
    assert_int_equal(rp_model_create(ctx, &mc, &m), RP_OK);
    rp_objective_config oc = rp_objective_defaults();
    rp_objective *obj = NULL;
    rp_optim *opt = NULL;
    rp_optim_config sgd = rp_optim_defaults(RP_SGD);
    sgd.lr = 0.05f, sgd.momentum = 0.9f;
    assert_int_equal(rp_objective_create(ctx, m, &oc, train_b, &obj), RP_OK);
    assert_int_equal(rp_optim_create(ctx, m, &sgd, &opt), RP_OK);
    float *x = malloc((size_t)train_b * H * W * C * sizeof *x);
    int32_t *y = malloc((size_t)train_b * sizeof *y);
    int *order = malloc((size_t)n_train * sizeof *order);
    assert_true(x && y && order);
    for (int epoch = 0; epoch < 2; epoch++) {
        rp_permutation(order, n_train, 5, (uint64_t)epoch);
        for (int b = 0; b < n_train / train_b; b++) {
            rp_dataset_gather(tr, order + b * train_b, train_b, x, y);
            assert_int_equal(rp_train_step(obj, opt, x, y, train_b, NULL), RP_OK);
        }
    }
    free(x), free(y), free(order);
    rp_objective_destroy(obj);
    rp_optim_destroy(opt);
    return m;
}

void mtu_masked_batch_init(mtu_masked_batch *b, int B, size_t X, int K)
{
    b->x = malloc((size_t)B * X * sizeof *b->x), b->views = malloc(2 * (size_t)B * X * sizeof *b->views);
    b->y = malloc((size_t)B * sizeof *b->y), b->idx = malloc((size_t)B * sizeof *b->idx);
    tu_fill_uniform(b->x, (size_t)B * X, 0.0f, 1.0f, 41);
    tu_fill_uniform(b->views, 2 * (size_t)B * X, 0.0f, 1.0f, 42);
    for (int i = 0; i < B; i++) b->y[i] = (int32_t)(i * 3 % K), b->idx[i] = 200 + 5 * i;
    rp_objective_config *c = b->cfg;
    c[MTU_ERM] = c[MTU_ADVREG] = c[MTU_TRADES] = c[MTU_CONSISTENCY] = rp_objective_defaults();
    c[MTU_ADVREG].kind = RP_OBJ_ADVREG, c[MTU_ADVREG].eps = 0.05f, c[MTU_ADVREG].norm = RP_NORM_LINF;
    c[MTU_ADVREG].multiplier = 0.5f;
    c[MTU_TRADES].kind = RP_OBJ_TRADES, c[MTU_TRADES].eps = 0.05f, c[MTU_TRADES].norm = RP_NORM_LINF;
    c[MTU_TRADES].steps = 2;
    c[MTU_CONSISTENCY].consistency = 2.0f;
}

void mtu_masked_batch_free(mtu_masked_batch *b)
{
    free(b->x), free(b->views), free(b->y), free(b->idx);
}

void mtu_objective(rp_ctx *ctx, rp_model *m, const rp_objective_config *cfg, int BG, float lr, rp_objective **o,
                   rp_optim **opt)
{
    rp_optim_config oc = rp_optim_defaults(RP_SGD);
    oc.lr = lr;
    *o = NULL, *opt = NULL;
    assert_int_equal(rp_objective_create(ctx, m, cfg, BG, o), RP_OK);
    assert_int_equal(rp_optim_create(ctx, m, &oc, opt), RP_OK);
}

/* ---- a test program's MPI job ------------------------------------------------------------- */

int mtu_job_setup(void **state)
{
    static mtu_job j;
    j.ctx = rp_ctx_create(1);
    if (!j.ctx || rp_dist_create(j.ctx, &j.d) != RP_OK) return -1;
    j.R = rp_dist_rank(j.d), j.N = rp_dist_size(j.d);
    *state = &j;
    return 0;
}

int mtu_job_teardown(void **state)
{
    mtu_job *j = *state;
    rp_dist_destroy(j->d);
    rp_ctx_destroy(j->ctx);
    return 0;
}

void mtu_piece(const mtu_job *j, int BG, bool empty, int *lo, int *hi)
{
    int P = empty && j->N > 1 ? j->N - 1 : j->N;
    *lo = j->R < P ? BG * j->R / P : BG;
    *hi = j->R < P ? BG * (j->R + 1) / P : BG;
}

/* ---- structure ---------------------------------------------------------------------------- */

const rp_param *mtu_param(const rp_model *m, const char *name)
{
    int i = rp_graph_find_param(&m->g, name);
    if (i < 0) fail_msg("%s: no parameter %s", m->arch, name);
    return &m->g.params[i];
}

int mtu_node(const rp_model *m, const char *name)
{
    int i = rp_graph_find_node(&m->g, name);
    if (i < 0) fail_msg("%s: no node %s", m->arch, name);
    return i;
}

void mtu_expect_shape(const rp_model *m, const char *name, int ndim, int64_t a, int64_t b, int64_t c, int64_t d)
{
    const rp_param *p = mtu_param(m, name);
    int64_t want[4] = {a, b, c, d};
    assert_int_equal(p->ndim, ndim);
    for (int k = 0; k < ndim; k++)
        if (p->shape[k] != want[k])
            fail_msg("%s: dim %d is %lld, torchvision has %lld", name, k, (long long)p->shape[k], (long long)want[k]);
}

int mtu_count_kind(const rp_graph *g, rp_layer_kind kind)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) n += g->nodes[i].ops->kind == kind;
    return n;
}

double mtu_expect_params(rp_ctx *ctx, const rp_model_config *c, size_t want)
{
    size_t params = 0;
    double flops = 0.0;
    if (rp_model_cost(ctx, c, &params, &flops) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    if (params != want)
        fail_msg("%s at %d classes: %zu parameters, torchvision has %zu", c->arch, c->num_classes, params, want);
    return flops;
}

double mtu_gemm_flops(const rp_model_config *c, double *all)
{
    rp_ctx *ctx = rp_ctx_create(1);
    rp_graph g;
    rp_graph_init(&g, ctx, (rp_shape){c->H, c->W, c->C});
    assert_true(rp_arch_find(c->arch)->build(&g, c) >= 0);
    double gemm = 0.0, total = 0.0;
    for (int i = 0; i < g.n_nodes; i++) {
        double f = rp_graph_node_flops(&g, i);
        total += f;
        if (g.nodes[i].ops->kind == RP_LAYER_CONV2D || g.nodes[i].ops->kind == RP_LAYER_LINEAR) gemm += f;
    }
    rp_graph_free(&g);
    rp_ctx_destroy(ctx);
    if (all) *all = total;
    return gemm;
}

void mtu_expect_kaiming(const rp_model *m, const char *name, bool fan_out)
{
    const rp_param *p = mtu_param(m, name);
    double fan = (double)((fan_out ? p->shape[0] : p->shape[1]) * p->shape[2] * p->shape[3]);
    double s = 0, ss = 0, want = sqrt(2.0 / fan);
    for (size_t i = 0; i < p->numel; i++) s += p->data[i], ss += (double)p->data[i] * p->data[i];
    double mean = s / (double)p->numel, sd = sqrt(ss / (double)p->numel - mean * mean);
    if (!(fabs(sd / want - 1.0) < 0.02 && fabs(mean) < 0.02 * want))
        fail_msg("%s: mean %g sd %g, torchvision's init N(0, %g^2)", name, mean, sd, want);
}

/* ---- a whole model's passes, fused and plain -------------------------------------------- */

/* OWNED: logits, input gradient and every parameter gradient of one pass of m under options,
 * from the parameters and buffers in init (a training pass moves the running statistics) and
 * with the masks of a fresh graph (dropout's and stochastic depth's rows numbered from 0). */
static float *run_pass(rp_model *m, const float *init, unsigned options, bool train, const float *x, const float *dy,
                       size_t *n)
{
    const int B = m->cfg.max_batch;
    size_t at = 0, np = 0, nx = (size_t)B * m->cfg.H * m->cfg.W * m->cfg.C, ny = (size_t)B * m->cfg.num_classes;
    for (int i = 0; i < m->g.n_params; i++) {
        memcpy(m->g.params[i].data, init + at, m->g.params[i].numel * sizeof(float));
        at += m->g.params[i].numel;
        np += m->g.params[i].grad ? m->g.params[i].numel : 0;
    }
    m->g.masks.next = 0;
    m->g.options = options;
    float *out = malloc((ny + nx + np) * sizeof *out);
    memcpy(out, rp_graph_forward(&m->g, x, B, train), ny * sizeof(float));
    rp_graph_zero_grad(&m->g);
    rp_graph_backward(&m->g, dy, out + ny, true);
    at = ny + nx;
    for (int i = 0; i < m->g.n_params; i++)
        if (m->g.params[i].grad) {
            memcpy(out + at, m->g.params[i].grad, m->g.params[i].numel * sizeof(float));
            at += m->g.params[i].numel;
        }
    *n = at;
    return out;
}

void mtu_check_passes(const mtu_passes *p)
{
    const char *arch = p->config.arch;
    rp_ctx *ctx = rp_ctx_create(p->threads);
    rp_model *m = mtu_create(ctx, &p->config);
    const int B = p->config.max_batch;
    size_t nx = (size_t)B * p->config.H * p->config.W * p->config.C, ny = (size_t)B * p->config.num_classes, total = 0;
    for (int i = 0; i < m->g.n_params; i++) total += m->g.params[i].numel;
    float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy), *init = malloc(total * sizeof *init);
    for (size_t i = 0, at = 0; i < (size_t)m->g.n_params; at += m->g.params[i].numel, i++)
        memcpy(init + at, m->g.params[i].data, m->g.params[i].numel * sizeof(float));
    tu_fill_uniform(x, nx, 0, 1, 170);
    tu_fill_uniform(dy, ny, -1, 1, 171);
    for (int train = 0; train < 2; train++) {
        const unsigned exact = RP_OPT_NO_CHAIN | RP_OPT_NO_TRAIN_FOLD;
        const char *mode = train ? "training" : "evaluation";
        size_t n0, n1, n2;
        float *plain = run_pass(m, init, exact | RP_OPT_NO_FUSION, train, x, dy, &n0);
        float *fused = run_pass(m, init, exact, train, x, dy, &n1);
        float *all = run_pass(m, init, train ? p->train_all : 0, train, x, dy, &n2);
        if (train && p->train_folds >= 0)
            assert_int_equal(rp_plan_count(m->g.last_plan, RP_STEP_CONV_BN_TRAIN), p->train_folds);
        assert_int_equal(n0, n1);
        assert_int_equal(n0, n2);
        for (size_t i = 0; i < n0; i++)
            if (!isfinite(plain[i]) || !isfinite(all[i]))
                fail_msg("%s %s pass: element %zu is %g, with every fusion %g", arch, mode, i, (double)plain[i],
                         (double)all[i]);
        assert_memory_equal(plain, fused, n0 * sizeof(float));
        size_t parts[4] = {0, ny, ny + nx, n0}; /* logits, input gradient, parameter gradients */
        for (int k = 0; k < 3 && (!train || p->train_l2); k++) {
            double d = 0, s = 0;
            for (size_t i = parts[k]; i < parts[k + 1]; i++) {
                d += ((double)all[i] - plain[i]) * ((double)all[i] - plain[i]);
                s += (double)plain[i] * plain[i];
            }
            if (!(sqrt(d) <= 1e-4 * sqrt(s) + 1e-12))
                fail_msg("%s %s, part %d: relative L2 difference %g with every fusion", arch, mode, k, sqrt(d / s));
        }
        free(plain);
        free(fused);
        free(all);
    }
    free(x);
    free(dy);
    free(init);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

/* ---- torchvision reference files (made by tests/reference/) ----------------------------------- */

float *mtu_read_all(rp_ctx *ctx, rp_st_file *f, const char *key, size_t *n)
{
    const rp_st_tensor *t = rp_st_find(f, key);
    if (!t) fail_msg("reference file: no tensor %s", key);
    float *v = malloc(t->numel * sizeof *v);
    assert_int_equal(rp_st_read_f32(ctx, f, key, v, t->numel), RP_OK);
    *n = t->numel;
    return v;
}

const char *mtu_meta(rp_st_file *f, const char *key)
{
    const char *v = rp_st_meta(f, key);
    if (!v) fail_msg("reference file: no metadata %s", key);
    return v;
}

double mtu_rel_l2(const float *got, const float *want, size_t n)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        s += (double)want[i] * want[i];
    }
    return s > 0 ? sqrt(d / s) : INFINITY;
}

void mtu_expect_rel_l2(const char *what, const float *got, const float *want, size_t n, double tol)
{
    double e = mtu_rel_l2(got, want, n);
    if (!(e <= tol)) fail_msg("%s: relative L2 error %g (tolerance %g)", what, e, tol);
    print_message("  %-40s relative L2 error %.2e (tolerance %.0e)\n", what, e, tol);
}

void mtu_expect_logits(const char *what, const float *got, const float *want, size_t n)
{
    double worst = 0, abs_err = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (e / (1e-4 + 1e-4 * fabs(want[i])) > worst) worst = e / (1e-4 + 1e-4 * fabs(want[i]));
        if (e > abs_err) abs_err = e;
    }
    tu_assert_close(what, got, want, n, 1e-4f, 1e-4f);
    print_message("  %-40s max |error| %.2e (%.2f of the tolerance)\n", what, abs_err, worst);
}

void mtu_ref_open(mtu_ref *r, rp_ctx *ctx, const char *arch, int classes)
{
    char path[512], file[96], weights[96];
    snprintf(file, sizeof file, "%s.safetensors", arch);
    snprintf(weights, sizeof weights, "%s_weights.safetensors", arch);
    r->ctx = ctx;
    r->classes = classes;
    tu_ref_path(r->weights, sizeof r->weights, weights);
    if (rp_st_open(ctx, tu_ref_path(path, sizeof path, file), &r->f) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    r->B = atoi(mtu_meta(r->f, "B")), r->H = atoi(mtu_meta(r->f, "H")), r->W = atoi(mtu_meta(r->f, "W"));
    r->x = mtu_read_all(ctx, r->f, "x", &r->nx);
    r->dy = mtu_read_all(ctx, r->f, "dy", &r->ny);
    assert_int_equal(r->nx, (size_t)r->B * r->H * r->W * 3);
    assert_int_equal(r->ny, (size_t)r->B * classes);
}

void mtu_ref_close(mtu_ref *r)
{
    free(r->x);
    free(r->dy);
    rp_st_close(r->f);
}

void mtu_ref_load(const mtu_ref *r, rp_model *m)
{
    if (rp_model_load_weights(r->ctx, m, r->weights, false) != RP_OK) fail_msg("%s", rp_ctx_error(r->ctx));
}

rp_model *mtu_ref_model(const mtu_ref *r, const char *arch)
{
    rp_model_config c = mtu_config(arch, r->classes, r->H, r->B);
    c.W = r->W, c.seed = 1;
    rp_model *m = mtu_create(r->ctx, &c);
    for (int i = 0; i < m->g.n_params; i++)
        for (size_t k = 0; k < m->g.params[i].numel; k++) m->g.params[i].data[k] = NAN;
    mtu_ref_load(r, m);
    return m;
}

void mtu_ref_eval(const mtu_ref *r, rp_model *m)
{
    size_t n;
    float *want_y = mtu_read_all(r->ctx, r->f, "eval_logits", &n), *want_dx = mtu_read_all(r->ctx, r->f, "eval_dx", &n);
    float *dx = malloc(r->nx * sizeof *dx);
    const unsigned options[2] = {0, RP_OPT_NO_FUSION | RP_OPT_NO_CHAIN};
    for (int o = 0; o < 2; o++) {
        m->g.options = options[o];
        mtu_expect_logits(o ? "evaluation logits, plain" : "evaluation logits",
                          rp_graph_forward(&m->g, r->x, r->B, false), want_y, r->ny);
        rp_graph_backward(&m->g, r->dy, dx, false);
        mtu_expect_rel_l2(o ? "evaluation input gradient, plain" : "evaluation input gradient", dx, want_dx, r->nx,
                          1e-4);
    }
    free(dx);
    free(want_y);
    free(want_dx);
}

/* The largest gnorm.KEY of m's trainable tensors in the file. */
static float largest_norm(const mtu_ref *r, const rp_model *m)
{
    float largest = 0.0f;
    for (int i = 0; i < m->g.n_params; i++) {
        char key[96];
        float v;
        snprintf(key, sizeof key, "gnorm.%s", m->g.params[i].name);
        if (m->g.params[i].trainable && rp_st_read_f32(r->ctx, r->f, key, &v, 1) == RP_OK && v > largest) largest = v;
    }
    return largest;
}

/* The training pass's gradients against the file, as mtu_ref_train says. */
static void expect_param_grads(const mtu_ref *r, const rp_model *m, const char *what, double rtol, double atol_frac,
                               int whole_keys)
{
    float largest = largest_norm(r, m);
    assert_true(largest > 0.0f);
    int whole = 0;
    double worst_norm = 0, worst_whole = 0;
    for (int i = 0; i < m->g.n_params; i++) {
        const rp_param *p = &m->g.params[i];
        if (!p->trainable) continue;
        char key[96];
        snprintf(key, sizeof key, "gnorm.%s", p->name);
        float want;
        if (rp_st_read_f32(r->ctx, r->f, key, &want, 1) != RP_OK) fail_msg("%s", rp_ctx_error(r->ctx));
        double ss = 0;
        for (size_t k = 0; k < p->numel; k++) ss += (double)p->grad[k] * p->grad[k];
        double err = fabs(sqrt(ss) - want), tol = rtol * want + atol_frac * largest;
        if (!(err <= tol)) fail_msg("%s: |grad %s| %g, torchvision %g", what, p->name, sqrt(ss), (double)want);
        if (err / tol > worst_norm) worst_norm = err / tol;
        snprintf(key, sizeof key, "grad.%s", p->name);
        const rp_st_tensor *t = rp_st_find(r->f, key);
        if (!t) continue;
        size_t n;
        float *g = mtu_read_all(r->ctx, r->f, key, &n), *o = malloc(n * sizeof *o);
        assert_int_equal(n, p->numel);
        if (p->layout == RP_LAYOUT_OHWI)
            conv_weight_oihw_to_ohwi(o, g, (int)t->shape[0], (int)t->shape[1], (int)t->shape[2]);
        else memcpy(o, g, n * sizeof *o);
        double e = mtu_rel_l2(p->grad, o, n);
        if (!(e <= rtol)) fail_msg("%s: grad %s: relative L2 error %g (tolerance %g)", what, p->name, e, rtol);
        if (e > worst_whole) worst_whole = e;
        whole++;
        free(g);
        free(o);
    }
    assert_int_equal(whole, whole_keys);
    print_message("  %-40s gradient norms at most %.1e of their tolerance; %d whole gradients within %.2e "
                  "relative L2\n", what, worst_norm, whole, worst_whole);
}

void mtu_ref_train(const mtu_ref *r, rp_model *m, bool fold, double rtol, double atol_frac, int whole_keys)
{
    size_t n;
    float *want_y = mtu_read_all(r->ctx, r->f, "train_logits", &n), *want_dx = mtu_read_all(r->ctx, r->f, "train_dx", &n);
    float *dx = malloc(r->nx * sizeof *dx);
    const unsigned options[2] = {RP_OPT_NO_TRAIN_FOLD, RP_OPT_TRAIN_FOLD_ALWAYS};
    for (int o = 0; o < 1 + fold; o++) {
        const char *what = o ? "training, fold" : "training";
        mtu_ref_load(r, m); /* the same weights and running statistics for each pass */
        m->g.options = options[o];
        mtu_expect_logits(what, rp_graph_forward(&m->g, r->x, r->B, true), want_y, r->ny);
        rp_graph_zero_grad(&m->g);
        rp_graph_backward(&m->g, r->dy, dx, true);
        mtu_expect_rel_l2(o ? "training input gradient, fold" : "training input gradient", dx, want_dx, r->nx, rtol);
        expect_param_grads(r, m, what, rtol, atol_frac, whole_keys);
        if (o) assert_true(rp_plan_count(m->g.last_plan, RP_STEP_CONV_BN_TRAIN) > 0);
    }
    free(dx);
    free(want_y);
    free(want_dx);
}
