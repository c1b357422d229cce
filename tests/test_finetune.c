/* Fine-tuning: parameter groups from names, gradual unfreezing (fixed schedule and
 * plateau rule), initialising from a checkpoint or a bare state_dict with a classifier of
 * another size (re-initialised) and the errors (model untouched). Comparisons exact. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "io/finetune.h"
#include "io/safetensors.h"
#include "nn/model.h"
#include "optim/unfreeze.h"

static rp_model *make(rp_ctx *ctx, const char *arch, int K, uint64_t seed)
{
    rp_model_config c = {.arch = arch, .num_classes = K, .H = 28, .W = 28, .C = 1, .max_batch = 4, .seed = seed,
                         .mean = {0.25f}, .std = {0.5f}};
    rp_model *m = NULL;
    assert_int_equal(rp_model_create(ctx, &c, &m), RP_OK);
    return m;
}

static const rp_param *param(const rp_model *m, const char *name)
{
    int i = rp_graph_find_param(&m->g, name);
    assert_true(i >= 0);
    return &m->g.params[i];
}

static bool same(const rp_model *a, const rp_model *b, const char *name)
{
    const rp_param *p = param(a, name), *q = param(b, name);
    return p->numel == q->numel && !memcmp(p->data, q->data, p->numel * sizeof(float));
}

static void test_groups(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model *m = make(ctx, "smallcnn", 10, 1);
    char g[8][RP_GROUP_NAME];
    assert_int_equal(rp_model_groups(m, g, 8), 4);
    const char *want[4] = {"conv1", "conv2", "fc1", "fc2"};
    for (int i = 0; i < 4; i++) assert_string_equal(g[i], want[i]);
    assert_int_equal(rp_model_groups(m, g, 2), 4); /* the count even when names are cut short */
    rp_model_destroy(m);
    /* the deeper architectures, when this build has them */
    rp_model_config c = {.arch = "mobilenet_v2", .num_classes = 5, .H = 32, .W = 32, .C = 3, .max_batch = 1,
                         .mean = {0.5f, 0.5f, 0.5f}, .std = {0.5f, 0.5f, 0.5f}};
    if (rp_arch_find("mobilenet_v2") && rp_model_create(ctx, &c, &m) == RP_OK) {
        char mg[32][RP_GROUP_NAME];
        assert_int_equal(rp_model_groups(m, mg, 32), 20);
        assert_string_equal(mg[0], "features.0");
        assert_string_equal(mg[18], "features.18");
        assert_string_equal(mg[19], "classifier.1");
        rp_model_destroy(m);
    }
    c.arch = "resnet18";
    if (rp_arch_find("resnet18") && rp_model_create(ctx, &c, &m) == RP_OK) {
        char rg[16][RP_GROUP_NAME];
        const char *rw[7] = {"conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"};
        assert_int_equal(rp_model_groups(m, rg, 16), 7);
        for (int i = 0; i < 7; i++) assert_string_equal(rg[i], rw[i]);
        rp_model_destroy(m);
    }
    rp_ctx_destroy(ctx);
}

static size_t numel(const rp_model *m, const char *name) { return param(m, name)->numel; }

static void test_unfreeze_schedule(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model *m = make(ctx, "smallcnn", 10, 1);
    const int at[2] = {2, 4};
    rp_unfreeze_config cfg = {.at = at, .n_at = 2};
    rp_unfreeze *u = NULL;
    assert_int_equal(rp_unfreeze_create(ctx, m, &cfg, &u), RP_OK);
    size_t head = numel(m, "fc2.weight") + numel(m, "fc2.bias");
    size_t fc1 = numel(m, "fc1.weight") + numel(m, "fc1.bias");
    assert_int_equal(rp_model_num_unfrozen(m), head);
    assert_true(param(m, "conv1.weight")->frozen && !param(m, "fc2.bias")->frozen);
    assert_int_equal(rp_unfreeze_frozen(u), 3);
    assert_null(rp_unfreeze_epoch_start(u, 1));
    assert_string_equal(rp_unfreeze_epoch_start(u, 2), "fc1");
    assert_int_equal(rp_model_num_unfrozen(m), head + fc1);
    assert_null(rp_unfreeze_epoch_start(u, 3));
    assert_string_equal(rp_unfreeze_epoch_start(u, 4), "conv2");
    assert_int_equal(rp_unfreeze_frozen(u), 1);
    assert_true(param(m, "conv1.bias")->frozen && !param(m, "conv2.bias")->frozen);
    rp_unfreeze_destroy(u);
    const int bad[2] = {3, 3};
    cfg.at = bad;
    assert_int_equal(rp_unfreeze_create(ctx, m, &cfg, &u), RP_ERR_ARG);
    rp_model_destroy(m);
    m = make(ctx, "mlp", 10, 1); /* two groups: only the head trains at first */
    cfg = (rp_unfreeze_config){.patience = 1};
    assert_int_equal(rp_unfreeze_create(ctx, m, &cfg, &u), RP_OK);
    assert_int_equal(rp_unfreeze_groups(u), 2);
    assert_string_equal(rp_unfreeze_group(u, 1), "fc2");
    rp_unfreeze_destroy(u);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

static void test_unfreeze_plateau(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model *m = make(ctx, "smallcnn", 10, 1);
    rp_unfreeze_config cfg = {.patience = 2, .threshold = 0.1f};
    rp_unfreeze *u = NULL;
    assert_int_equal(rp_unfreeze_create(ctx, m, &cfg, &u), RP_OK);
    /* improvement means loss < best * 0.9 */
    const double losses[10] = {1.0, 0.95, 0.92, 0.5, 0.49, 0.48, 0.3, 0.29, 0.28, 0.27};
    const char *want[10] = {NULL, NULL, "fc1", NULL, NULL, "conv2", NULL, NULL, "conv1", NULL};
    char why[256];
    for (int e = 0; e < 10; e++) {
        const char *g = rp_unfreeze_epoch_end(u, losses[e], why, sizeof why);
        if (!want[e]) {
            assert_null(g);
            continue;
        }
        assert_non_null(g);
        assert_string_equal(g, want[e]);
        assert_non_null(strstr(why, "not improved"));
    }
    assert_int_equal(rp_unfreeze_frozen(u), 0);
    assert_int_equal(rp_model_num_unfrozen(m), rp_model_num_params(m));
    rp_unfreeze_destroy(u);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

/* path rewritten as a bare state_dict: same tensors, no metadata. */
static void strip_metadata(rp_ctx *ctx, const char *src, const char *dst)
{
    rp_st_file *f = NULL;
    assert_int_equal(rp_st_open(ctx, src, &f), RP_OK);
    int n = rp_st_count(f);
    rp_st_entry *e = calloc((size_t)n, sizeof *e);
    float **data = calloc((size_t)n, sizeof *data);
    for (int i = 0; i < n; i++) {
        const rp_st_tensor *t = rp_st_at(f, i);
        data[i] = malloc(t->numel * sizeof(float));
        assert_int_equal(rp_st_read_f32(ctx, f, t->name, data[i], t->numel), RP_OK);
        e[i] = (rp_st_entry){.name = t->name, .dtype = RP_ST_F32, .ndim = t->ndim, .data = data[i]};
        memcpy(e[i].shape, t->shape, sizeof e[i].shape);
    }
    assert_int_equal(rp_st_write(ctx, dst, e, n, NULL, NULL, 0), RP_OK);
    for (int i = 0; i < n; i++) free(data[i]);
    free(data);
    free(e);
    rp_st_close(f);
}

static void test_init_from(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    char ckpt[512], bare[512], other[512];
    snprintf(ckpt, sizeof ckpt, "%s/src.safetensors", tu_tmpdir());
    snprintf(bare, sizeof bare, "%s/bare.safetensors", tu_tmpdir());
    snprintf(other, sizeof other, "%s/mlp.safetensors", tu_tmpdir());
    rp_model *src = make(ctx, "smallcnn", 10, 1);
    assert_int_equal(rp_model_save(ctx, src, ckpt, NULL), RP_OK);
    strip_metadata(ctx, ckpt, bare);
    const char *files[2] = {ckpt, bare};
    for (int f = 0; f < 2; f++) {
        /* 4 classes: everything but the classifier comes from the file */
        rp_model *m = make(ctx, "smallcnn", 4, 2), *fresh = make(ctx, "smallcnn", 4, 2);
        rp_init_report r;
        assert_int_equal(rp_model_init_from(ctx, m, files[f], &r), RP_OK);
        assert_true(r.reinit);
        assert_int_equal(r.file_classes, 10);
        assert_string_equal(r.head, "fc2.weight, fc2.bias");
        const char *body[6] = {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias"};
        for (int i = 0; i < 6; i++) assert_true(same(m, src, body[i]));
        assert_true(same(m, fresh, "fc2.weight") && same(m, fresh, "fc2.bias"));
        assert_false(same(m, src, "conv1.weight") && same(fresh, src, "conv1.weight"));
        rp_model_destroy(m);
        rp_model_destroy(fresh);
        /* 10 classes: all of it */
        m = make(ctx, "smallcnn", 10, 3);
        assert_int_equal(rp_model_init_from(ctx, m, files[f], &r), RP_OK);
        assert_false(r.reinit);
        assert_true(same(m, src, "fc2.weight") && same(m, src, "conv1.weight"));
        rp_model_destroy(m);
    }
    /* normalisation: from a rampart checkpoint only */
    float mean[1], std[1];
    bool found;
    assert_int_equal(rp_checkpoint_norm(ctx, ckpt, 1, mean, std, &found), RP_OK);
    assert_true(found && mean[0] == 0.25f && std[0] == 0.5f);
    assert_int_equal(rp_checkpoint_norm(ctx, bare, 1, mean, std, &found), RP_OK);
    assert_false(found);
    assert_int_equal(rp_checkpoint_norm(ctx, ckpt, 3, mean, std, &found), RP_OK);
    assert_false(found);
    /* a file of another architecture: an error naming file and tensor, the model untouched */
    rp_model *mlp = make(ctx, "mlp", 10, 1);
    assert_int_equal(rp_model_save(ctx, mlp, other, NULL), RP_OK);
    rp_model *m = make(ctx, "smallcnn", 4, 2), *fresh = make(ctx, "smallcnn", 4, 2);
    assert_int_not_equal(rp_model_init_from(ctx, m, other, NULL), RP_OK);
    assert_non_null(strstr(rp_ctx_error(ctx), other));
    assert_non_null(strstr(rp_ctx_error(ctx), "conv1.weight")); /* missing from the mlp file */
    assert_true(same(m, fresh, "conv1.weight") && same(m, fresh, "fc1.weight") && same(m, fresh, "fc2.weight"));
    rp_model_destroy(m);
    rp_model_destroy(fresh);
    rp_model_destroy(mlp);
    rp_model_destroy(src);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_unfreeze_schedule),
        cmocka_unit_test(test_unfreeze_plateau),
        cmocka_unit_test(test_init_from),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
