/* Checkpoints: save -> load gives bit-identical logits (mlp, smallcnn and every other
 * registered architecture), conv weights are OIHW in the file, and every kind of
 * misfit (shape, missing, unknown, NaN/Inf, metadata) is an error naming the file
 * and the tensor, leaving the model unchanged. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "nn/model.h"

static char *tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tu_tmpdir(), name);
    return buf;
}

static rp_model *make_model(rp_ctx *ctx, const char *arch, int H, int W, int C, int K, uint64_t seed)
{
    rp_model_config cfg = {.arch = arch, .num_classes = K, .H = H, .W = W, .C = C, .max_batch = 4, .seed = seed};
    for (int c = 0; c < C; c++) {
        cfg.mean[c] = 0.1f + 0.2f * (float)c + 1e-7f; /* digits that need %.9g to survive */
        cfg.std[c] = 0.3f + 0.05f * (float)c;
    }
    rp_model *m = NULL;
    if (rp_model_create(ctx, &cfg, &m) != RP_OK) fail_msg("create %s: %s", arch, rp_ctx_error(ctx));
    return m;
}

/* Logits of a fixed batch of 3, copied (eval mode). */
static float *logits_of(rp_model *m, uint64_t seed)
{
    const rp_model_config *c = rp_model_get_config(m);
    size_t nx = (size_t)3 * c->H * c->W * c->C, ny = (size_t)3 * c->num_classes;
    float *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y);
    tu_fill_uniform(x, nx, 0.0f, 1.0f, seed);
    memcpy(y, rp_model_forward(m, x, 3, false), ny * sizeof *y);
    free(x);
    return y;
}

/* Perturb every parameter and buffer so that a load which forgot one shows. */
static void perturb(rp_model *m, float scale, uint64_t seed)
{
    for (int i = 0; i < m->g.n_params; i++) {
        rp_param *p = &m->g.params[i];
        if (p->is_int64) {
            p->data[0] = 17.0f;
            continue;
        }
        float *r = malloc(p->numel * sizeof *r);
        tu_fill_uniform(r, p->numel, -scale, scale, seed + (uint64_t)i);
        for (size_t k = 0; k < p->numel; k++) p->data[k] += r[k];
        if (!p->trainable && strstr(p->name, "running_var"))
            for (size_t k = 0; k < p->numel; k++) p->data[k] = fabsf(p->data[k]) + 0.5f;
        free(r);
    }
}

static void assert_same_params(const rp_model *a, const rp_model *b)
{
    assert_int_equal(a->g.n_params, b->g.n_params);
    for (int i = 0; i < a->g.n_params; i++) {
        assert_string_equal(a->g.params[i].name, b->g.params[i].name);
        assert_memory_equal(a->g.params[i].data, b->g.params[i].data, a->g.params[i].numel * sizeof(float));
    }
}

static void round_trip(const char *arch, int H, int W, int C, int K)
{
    char path[512];
    snprintf(path, sizeof path, "%s/rt-%s.safetensors", tu_tmpdir(), arch);
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model *m = make_model(ctx, arch, H, W, C, K, 7);
    perturb(m, 0.05f, 99);
    float *want = logits_of(m, 5);
    const char *names[] = {"zero", "one \"quoted\"", "two/three", "drei", "cinq", "six", "seven"};
    assert_true(K <= 7);
    if (rp_model_save(ctx, m, path, names) != RP_OK) fail_msg("save: %s", rp_ctx_error(ctx));

    rp_model *l = NULL;
    if (rp_model_load(ctx, path, 3, &l) != RP_OK) fail_msg("load: %s", rp_ctx_error(ctx));
    const rp_model_config *a = rp_model_get_config(m), *b = rp_model_get_config(l);
    assert_string_equal(a->arch, b->arch);
    assert_int_equal(a->num_classes, b->num_classes);
    assert_true(a->H == b->H && a->W == b->W && a->C == b->C);
    assert_memory_equal(a->mean, b->mean, (size_t)C * sizeof(float)); /* exact through "%.9g" */
    assert_memory_equal(a->std, b->std, (size_t)C * sizeof(float));
    assert_same_params(m, l);
    float *got = logits_of(l, 5);
    tu_assert_close(arch, got, want, 3 * (size_t)K, 0.0f, 0.0f); /* bit-identical */

    /* weights into an existing model (different init) give the same logits too */
    rp_model *e = make_model(ctx, arch, H, W, C, K, 8);
    if (rp_model_load_weights(ctx, e, path, false) != RP_OK) fail_msg("load_weights: %s", rp_ctx_error(ctx));
    float *got2 = logits_of(e, 5);
    tu_assert_close(arch, got2, want, 3 * (size_t)K, 0.0f, 0.0f);

    /* class names come back (OWNED by the caller) */
    char **cn = NULL;
    int n = 0;
    assert_int_equal(rp_checkpoint_class_names(ctx, path, &cn, &n), RP_OK);
    assert_int_equal(n, K);
    for (int k = 0; k < K; k++) assert_string_equal(cn[k], names[k]);
    rp_checkpoint_free_names(cn, n);

    /* the file holds PyTorch's layout: conv weights OIHW, counters I64 */
    rp_st_file *f = NULL;
    assert_int_equal(rp_st_open(ctx, path, &f), RP_OK);
    assert_string_equal(rp_st_meta(f, "format"), "rampart-1");
    assert_string_equal(rp_st_meta(f, "arch"), arch);
    assert_int_equal(rp_st_count(f), m->g.n_params);
    for (int i = 0; i < m->g.n_params; i++) {
        const rp_param *p = &m->g.params[i];
        const rp_st_tensor *t = rp_st_find(f, p->name);
        assert_non_null(t);
        assert_int_equal(t->dtype, p->is_int64 ? RP_ST_I64 : RP_ST_F32);
        if (p->layout != RP_LAYOUT_OHWI) continue;
        float *torch = malloc(p->numel * sizeof *torch);
        assert_int_equal(rp_st_read_f32(ctx, f, p->name, torch, p->numel), RP_OK);
        int64_t O = p->shape[0], I = p->shape[1], KH = p->shape[2], KW = p->shape[3];
        for (int64_t o = 0; o < O; o++)
            for (int64_t i2 = 0; i2 < I; i2++)
                for (int64_t h = 0; h < KH; h++)
                    for (int64_t w = 0; w < KW; w++)
                        assert_true(torch[((o * I + i2) * KH + h) * KW + w] == p->data[((o * KH + h) * KW + w) * I + i2]);
        free(torch);
    }
    rp_st_close(f);
    free(want);
    free(got);
    free(got2);
    rp_model_destroy(m);
    rp_model_destroy(l);
    rp_model_destroy(e);
    rp_ctx_destroy(ctx);
}

static void test_round_trip_mlp(void **state)
{
    (void)state;
    round_trip("mlp", 6, 5, 2, 4);
}

static void test_round_trip_smallcnn(void **state)
{
    (void)state;
    round_trip("smallcnn", 8, 8, 3, 5);
}

/* Every other registered architecture at 32x32x3 (BatchNorm buffers included). */
static void test_round_trip_all_archs(void **state)
{
    (void)state;
    for (const char *const *a = rp_model_archs(); *a; a++) {
        if (strcmp(*a, "mlp") == 0 || strcmp(*a, "smallcnn") == 0) continue;
        round_trip(*a, 32, 32, 3, 7);
    }
}

/* Copy a checkpoint, optionally dropping one tensor, poisoning one element, adding
 * an unknown tensor, or dropping all metadata. */
typedef struct edit {
    const char *drop, *poison, *extra;
    float poison_value;
    bool no_meta;
    const char *meta_key, *meta_value; /* replace one metadata value */
} edit;

static void rewrite(const char *src, const char *dst, const edit *ed)
{
    rp_ctx *ctx = rp_ctx_create(1);
    rp_st_file *f = NULL;
    assert_int_equal(rp_st_open(ctx, src, &f), RP_OK);
    int n = rp_st_count(f);
    rp_st_entry *e = calloc((size_t)n + 1, sizeof *e);
    float **bufs = calloc((size_t)n + 1, sizeof *bufs);
    int m = 0;
    for (int i = 0; i < n; i++) {
        const rp_st_tensor *t = rp_st_at(f, i);
        if (ed->drop && strcmp(t->name, ed->drop) == 0) continue;
        bufs[m] = malloc((t->numel ? t->numel : 1) * sizeof(float));
        assert_int_equal(rp_st_read_f32(ctx, f, t->name, bufs[m], t->numel), RP_OK);
        if (ed->poison && strcmp(t->name, ed->poison) == 0) bufs[m][t->numel / 2] = ed->poison_value;
        e[m] = (rp_st_entry){.name = t->name, .dtype = t->dtype, .ndim = t->ndim, .data = bufs[m]};
        memcpy(e[m].shape, t->shape, sizeof t->shape);
        m++;
    }
    float one = 1.0f;
    if (ed->extra) e[m++] = (rp_st_entry){.name = ed->extra, .dtype = RP_ST_F32, .ndim = 1, .shape = {1}, .data = &one};
    const char *keys[] = {"format", "arch", "num_classes", "input", "mean", "std"}, *vals[6];
    for (int k = 0; k < 6; k++) {
        vals[k] = rp_st_meta(f, keys[k]);
        if (ed->meta_key && strcmp(ed->meta_key, keys[k]) == 0) vals[k] = ed->meta_value;
    }
    assert_int_equal(rp_st_write(ctx, dst, e, m, keys, vals, ed->no_meta ? 0 : 6), RP_OK);
    for (int i = 0; i < m; i++) free(bufs[i]);
    free(bufs);
    free(e);
    rp_st_close(f);
    rp_ctx_destroy(ctx);
}

/* A load (rp_model_load when m is NULL, else load_weights into m) fails with want,
 * naming the file and `what`; m keeps its weights. */
static void expect_load_error(rp_model *m, const char *path, rp_status want, const char *what)
{
    rp_ctx *ctx = rp_ctx_create(1);
    rp_status s;
    if (m) {
        float *before = logits_of(m, 3);
        s = rp_model_load_weights(ctx, m, path, false);
        float *after = logits_of(m, 3);
        tu_assert_close("weights untouched by a failed load", after, before, 3 * (size_t)m->cfg.num_classes, 0, 0);
        free(before);
        free(after);
    } else {
        rp_model *out = (rp_model *)0x1;
        s = rp_model_load(ctx, path, 2, &out);
        assert_null(out);
    }
    const char *msg = rp_ctx_error(ctx);
    if (s != want) fail_msg("%s: status %s, expected %s (%s)", path, rp_status_name(s), rp_status_name(want), msg);
    if (!strstr(msg, path)) fail_msg("message does not name the file: %s", msg);
    if (what && !strstr(msg, what)) fail_msg("message lacks '%s': %s", what, msg);
    rp_ctx_destroy(ctx);
}

/* A mobilenet_v2 at width 0.5 reloads at width 0.5 (the width is in the metadata). */
static void test_width_round_trip(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config cfg = {.arch = "mobilenet_v2", .num_classes = 5, .H = 32, .W = 32, .C = 3,
                           .max_batch = 3, .seed = 4, .width = 0.5f};
    for (int c = 0; c < 3; c++) cfg.mean[c] = 0.5f, cfg.std[c] = 0.25f;
    rp_model *m = NULL, *l = NULL;
    assert_int_equal(rp_model_create(ctx, &cfg, &m), RP_OK);
    char path[512];
    tmp_path(path, sizeof path, "width.safetensors");
    assert_int_equal(rp_model_save(ctx, m, path, NULL), RP_OK);
    if (rp_model_load(ctx, path, 3, &l) != RP_OK) fail_msg("load: %s", rp_ctx_error(ctx));
    assert_true(rp_model_get_config(l)->width == 0.5f);
    assert_int_equal(rp_model_num_params(l), rp_model_num_params(m));
    float *want = logits_of(m, 9), *got = logits_of(l, 9);
    tu_assert_close("width 0.5 logits", got, want, 15, 0.0f, 0.0f);
    free(want), free(got);
    rp_model_destroy(m), rp_model_destroy(l);
    rp_ctx_destroy(ctx);
}

static void test_misfits(void **state)
{
    (void)state;
    char good[512], bad[512];
    tmp_path(good, sizeof good, "good.safetensors");
    tmp_path(bad, sizeof bad, "bad.safetensors");
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model *m = make_model(ctx, "smallcnn", 8, 8, 1, 4, 1);
    assert_int_equal(rp_model_save(ctx, m, good, NULL), RP_OK);
    rp_model *target = make_model(ctx, "smallcnn", 8, 8, 1, 4, 2);

    /* shapes that do not fit: another class count, another input size */
    rp_model *wide = make_model(ctx, "smallcnn", 8, 8, 1, 6, 3);
    expect_load_error(wide, good, RP_ERR_SHAPE, "fc2.weight");
    rp_model *rgb = make_model(ctx, "smallcnn", 8, 8, 3, 4, 3);
    expect_load_error(rgb, good, RP_ERR_SHAPE, "conv1.weight");
    rp_model *mlp = make_model(ctx, "mlp", 8, 8, 1, 4, 3);
    expect_load_error(mlp, good, RP_ERR_FORMAT, "unknown tensor 'conv1.weight'");

    /* a missing tensor; allowed when asked, and then that tensor keeps its value */
    rewrite(good, bad, &(edit){.drop = "fc1.bias"});
    expect_load_error(target, bad, RP_ERR_FORMAT, "'fc1.bias'");
    expect_load_error(NULL, bad, RP_ERR_FORMAT, "'fc1.bias'");
    int bias = rp_graph_find_param(&target->g, "fc1.bias");
    float keep = target->g.params[bias].data[0];
    assert_int_equal(rp_model_load_weights(ctx, target, bad, true), RP_OK);
    assert_true(target->g.params[bias].data[0] == keep);
    int w1 = rp_graph_find_param(&target->g, "fc1.weight");
    assert_memory_equal(target->g.params[w1].data, m->g.params[w1].data, m->g.params[w1].numel * sizeof(float));

    /* an unknown extra tensor */
    rewrite(good, bad, &(edit){.extra = "conv3.weight"});
    expect_load_error(target, bad, RP_ERR_FORMAT, "conv3.weight");
    expect_load_error(NULL, bad, RP_ERR_FORMAT, "conv3.weight");

    /* NaN and Inf weights */
    rewrite(good, bad, &(edit){.poison = "conv2.weight", .poison_value = NAN});
    expect_load_error(target, bad, RP_ERR_NUMERIC, "'conv2.weight'");
    rewrite(good, bad, &(edit){.poison = "fc2.bias", .poison_value = -INFINITY});
    expect_load_error(NULL, bad, RP_ERR_NUMERIC, "'fc2.bias'");

    /* no metadata: not loadable as a model, still loadable as bare weights */
    rewrite(good, bad, &(edit){.no_meta = true});
    expect_load_error(NULL, bad, RP_ERR_FORMAT, "format");
    assert_int_equal(rp_model_load_weights(ctx, target, bad, false), RP_OK);
    char **cn = (char **)0x1;
    int n = -1;
    assert_int_equal(rp_checkpoint_class_names(ctx, bad, &cn, &n), RP_OK);
    assert_null(cn);
    assert_int_equal(n, 0);

    /* bad metadata values */
    rewrite(good, bad, &(edit){.meta_key = "format", .meta_value = "rampart-0"});
    expect_load_error(NULL, bad, RP_ERR_FORMAT, "rampart-0");
    rewrite(good, bad, &(edit){.meta_key = "arch", .meta_value = "resnet9000"});
    expect_load_error(NULL, bad, RP_ERR_FORMAT, "resnet9000");
    rewrite(good, bad, &(edit){.meta_key = "input", .meta_value = "8x8"});
    expect_load_error(NULL, bad, RP_ERR_FORMAT, "input");
    rewrite(good, bad, &(edit){.meta_key = "num_classes", .meta_value = "four"});
    expect_load_error(NULL, bad, RP_ERR_FORMAT, "num_classes");
    rewrite(good, bad, &(edit){.meta_key = "std", .meta_value = "[0.5, 0.5]"});
    expect_load_error(NULL, bad, RP_ERR_FORMAT, "mean/std");
    rewrite(good, bad, &(edit){.meta_key = "std", .meta_value = "[-1]"});
    expect_load_error(NULL, bad, RP_ERR_ARG, "std");
    rewrite(good, bad, &(edit){.meta_key = "num_classes", .meta_value = "6"});
    expect_load_error(NULL, bad, RP_ERR_SHAPE, "fc2.weight");

    /* not a safetensors file at all, and a missing one */
    tu_write_file(bad, "hello", 5);
    expect_load_error(NULL, bad, RP_ERR_FORMAT, "too short");
    tmp_path(bad, sizeof bad, "nothing-here.safetensors");
    expect_load_error(NULL, bad, RP_ERR_IO, "cannot open");
    expect_load_error(target, bad, RP_ERR_IO, "cannot open");

    rp_model_destroy(m);
    rp_model_destroy(target);
    rp_model_destroy(wide);
    rp_model_destroy(rgb);
    rp_model_destroy(mlp);
    rp_ctx_destroy(ctx);
}

/* A model holding NaN is not saved, and the previous checkpoint survives. */
static void test_save_refuses_nan(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "nan-save.safetensors");
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model *m = make_model(ctx, "mlp", 4, 4, 1, 3, 1);
    assert_int_equal(rp_model_save(ctx, m, path, NULL), RP_OK);
    int i = rp_graph_find_param(&m->g, "fc2.weight");
    m->g.params[i].data[5] = NAN;
    assert_int_equal(rp_model_save(ctx, m, path, NULL), RP_ERR_NUMERIC);
    assert_non_null(strstr(rp_ctx_error(ctx), path));
    assert_non_null(strstr(rp_ctx_error(ctx), "fc2.weight"));
    rp_model *l = NULL;
    assert_int_equal(rp_model_load(ctx, path, 1, &l), RP_OK); /* the old file is intact */
    assert_true(isfinite(l->g.params[i].data[5]));
    rp_model_destroy(l);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

/* The training step's check (rp_model_check_finite, threads splitting the parameters): a NaN or
 * infinite weight or gradient fails it, naming the first bad tensor in the model's order and the
 * element, whichever thread saw it; a model without one passes. */
static void test_check_finite(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 2; threads++) {
        rp_ctx *ctx = rp_ctx_create(threads);
        rp_model *m = make_model(ctx, "smallcnn", 8, 8, 1, 4, 1);
        assert_int_equal(rp_model_check_finite(ctx, m), RP_OK);
        int late = rp_graph_find_param(&m->g, "fc2.bias"), early = rp_graph_find_param(&m->g, "conv2.weight");
        m->g.params[late].data[1] = INFINITY;
        assert_int_equal(rp_model_check_finite(ctx, m), RP_ERR_NUMERIC);
        assert_non_null(strstr(rp_ctx_error(ctx), "parameter fc2.bias holds inf at element 1"));
        m->g.params[early].grad[7] = NAN;
        assert_int_equal(rp_model_check_finite(ctx, m), RP_ERR_NUMERIC);
        assert_non_null(strstr(rp_ctx_error(ctx), "gradient of conv2.weight holds nan at element 7"));
        m->g.params[early].grad[7] = 0.0f;
        m->g.params[late].data[1] = 0.0f;
        assert_int_equal(rp_model_check_finite(ctx, m), RP_OK);
        rp_model_destroy(m);
        rp_ctx_destroy(ctx);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_finite),
        cmocka_unit_test(test_round_trip_mlp),
        cmocka_unit_test(test_round_trip_smallcnn),
        cmocka_unit_test(test_round_trip_all_archs),
        cmocka_unit_test(test_width_round_trip),
        cmocka_unit_test(test_misfits),
        cmocka_unit_test(test_save_refuses_nan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
