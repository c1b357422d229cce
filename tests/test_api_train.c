/* What rampart train needs from the public API (include/rampart.h): data-set options and the
 * skipped count, augmentation specs with their mixing op and corruption families, the
 * objectives' families, the batch loader, SAM and data-parallel switches, fine-tuning from a
 * weights file and the unfreeze schedule. Each works on a small case, and every bad argument
 * (NULL handles and buffers, unknown names and kinds, values out of range) is a status with a
 * message, never an abort. tests/test_loader.c, test_augment.c and test_finetune.c check the
 * modules in depth. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/dataset.h"
#include "testutil.h"

enum { N = 10, S = 4, K = 3 };

/* Bit of the corruption family called name. */
static unsigned family_bit(const char *name)
{
    const char *const *f = rp_corruption_family_names();
    for (int i = 0; f[i]; i++)
        if (!strcmp(f[i], name)) return 1u << i;
    fail_msg("no corruption family %s", name);
    return 0;
}

static rp_dataset *memory_set(rp_ctx *ctx)
{
    uint8_t pixels[N * S * S];
    int32_t labels[N];
    for (int i = 0; i < N * S * S; i++) pixels[i] = (uint8_t)(i * 7);
    for (int i = 0; i < N; i++) labels[i] = i % K;
    rp_dataset *ds = NULL;
    assert_int_equal(rp_dataset_from_memory(ctx, pixels, labels, N, S, S, 1, K, NULL, &ds), RP_OK);
    return ds;
}

static rp_model *mlp(rp_ctx *ctx, int classes, uint64_t seed)
{
    rp_model_config cfg = {.arch = "mlp", .num_classes = classes, .H = S, .W = S, .C = 1, .max_batch = 4,
                           .seed = seed};
    cfg.mean[0] = 0.5f, cfg.std[0] = 0.25f;
    rp_model *m = NULL;
    assert_int_equal(rp_model_create(ctx, &cfg, &m), RP_OK);
    return m;
}

static void test_dataset_options(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_dataset *ds = NULL;
    rp_data_options opt = {.workers = 1, .skip_bad = true};
    tu_expect_status(rp_dataset_open_ex(ctx, "mnist", true, &opt, NULL), RP_ERR_ARG, ctx, "out is NULL");
    tu_expect_status(rp_dataset_open(ctx, "mnist", true, NULL), RP_ERR_ARG, ctx, "out is NULL");
    tu_expect_status(rp_dataset_open_ex(ctx, NULL, true, &opt, &ds), RP_ERR_ARG, ctx, "no data spec");
    assert_null(ds);
    tu_expect_status(rp_dataset_open_ex(ctx, "no-such-set", true, NULL, &ds), RP_ERR_ARG, ctx, "'no-such-set'");
    char missing[512];
    snprintf(missing, sizeof missing, "folder:%s/no_such_folder", tu_tmpdir());
    assert_int_not_equal(rp_dataset_open_ex(ctx, missing, true, &opt, &ds), RP_OK);
    assert_non_null(strstr(rp_ctx_error(ctx), "no_such_folder"));

    const char *note = "unset";
    assert_int_equal(rp_dataset_skipped(NULL, &note), 0);
    assert_string_equal(note, "");
    assert_int_equal(rp_dataset_skipped(NULL, NULL), 0);
    ds = memory_set(ctx);
    assert_int_equal(rp_dataset_skipped(ds, &note), 0);
    assert_int_equal(rp_dataset_skipped(ds, NULL), 0);
    rp_dataset_destroy(ds);
    rp_ctx_destroy(ctx);
}

static void test_augment_spec(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_augment_op ops[RP_AUGMENT_MAX_OPS];
    int n = -1, mix = 7;
    unsigned fam = 99;
    assert_string_equal(rp_augment_name(RP_AUG_FLIP), "flip");
    assert_string_equal(rp_augment_name(RP_AUG_PRIME), "prime");
    assert_string_equal(rp_augment_name(RP_AUG_COUNT), "unknown");
    assert_string_equal(rp_augment_name((rp_augment_kind)-1), "unknown");

    assert_int_equal(rp_augment_parse(ctx, "flip,crop:4,gaussian:0.1@0.3", 0.5f, ops, &n), RP_OK);
    assert_int_equal(n, 3);
    assert_true(ops[0].kind == RP_AUG_FLIP && ops[0].prob == 0.5f);
    assert_true(ops[1].kind == RP_AUG_CROP && ops[1].strength == 4.0f);
    assert_true(ops[2].kind == RP_AUG_GAUSSIAN && ops[2].strength == 0.1f && ops[2].prob == 0.3f);
    assert_int_equal(rp_augment_mixing_op(ctx, ops, n, &mix), RP_OK);
    assert_int_equal(mix, -1);
    assert_int_equal(rp_augment_corruption_families(ctx, ops, n, &fam), RP_OK);
    assert_int_equal(fam, family_bit("geometric") | family_bit("noise"));
    assert_int_equal(rp_augment_parse(ctx, "erase,augmix", 0.5f, ops, &n), RP_OK);
    assert_int_equal(n, 2);
    assert_true(ops[1].prob == 1.0f); /* a mixing op fires always unless told */
    assert_int_equal(rp_augment_mixing_op(ctx, ops, n, &mix), RP_OK);
    assert_int_equal(mix, 1);
    assert_int_equal(rp_augment_corruption_families(ctx, ops, n, &fam), RP_OK);
    assert_true((fam & family_bit("occlusion")) && (fam & family_bit("digital")));
    assert_int_equal(rp_augment_parse(ctx, NULL, 0.5f, ops, &n), RP_OK); /* no spec: no ops */
    assert_int_equal(n, 0);
    assert_int_equal(rp_augment_parse(ctx, "", 0.5f, ops, &n), RP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(rp_augment_mixing_op(ctx, NULL, 0, &mix), RP_OK);
    assert_int_equal(mix, -1);
    assert_int_equal(rp_augment_corruption_families(ctx, NULL, 0, &fam), RP_OK);
    assert_int_equal(fam, 0);

    tu_expect_status(rp_augment_parse(ctx, "flip", 0.5f, NULL, &n), RP_ERR_ARG, ctx, "ops is NULL");
    tu_expect_status(rp_augment_parse(ctx, "flip", 0.5f, ops, NULL), RP_ERR_ARG, ctx, "n_ops is NULL");
    tu_expect_status(rp_augment_parse(ctx, "flip,blur", 0.5f, ops, &n), RP_ERR_ARG, ctx, "unknown augmentation 'blur'");
    tu_expect_status(rp_augment_parse(ctx, "flip", 1.5f, ops, &n), RP_ERR_ARG, ctx, "probability 1.5");
    tu_expect_status(rp_augment_parse(ctx, "gaussian:x", 0.5f, ops, &n), RP_ERR_ARG, ctx, "bad strength");
    tu_expect_status(rp_augment_parse(ctx, "flip@2", 0.5f, ops, &n), RP_ERR_ARG, ctx, "bad probability");
    tu_expect_status(rp_augment_parse(ctx, "augmix,prime", 0.5f, ops, &n), RP_ERR_ARG, ctx, "more than one");
    tu_expect_status(rp_augment_parse(ctx, "flip,,crop", 0.5f, ops, &n), RP_ERR_ARG, ctx, "empty item");

    rp_augment_op bad[2] = {{RP_AUG_FLIP, 0.0f, 1.0f}, {(rp_augment_kind)42, 0.0f, 1.0f}};
    tu_expect_status(rp_augment_mixing_op(ctx, ops, 1, NULL), RP_ERR_ARG, ctx, "index is NULL");
    tu_expect_status(rp_augment_mixing_op(ctx, NULL, 1, &mix), RP_ERR_ARG, ctx, "ops is NULL");
    tu_expect_status(rp_augment_mixing_op(ctx, ops, -1, &mix), RP_ERR_ARG, ctx, "n_ops -1 outside 0..16");
    tu_expect_status(rp_augment_mixing_op(ctx, ops, RP_AUGMENT_MAX_OPS + 1, &mix), RP_ERR_ARG, ctx, "outside");
    tu_expect_status(rp_augment_mixing_op(ctx, bad, 2, &mix), RP_ERR_ARG, ctx, "op 1 has unknown kind 42");
    tu_expect_status(rp_augment_corruption_families(ctx, ops, 1, NULL), RP_ERR_ARG, ctx, "families is NULL");
    tu_expect_status(rp_augment_corruption_families(ctx, NULL, 2, &fam), RP_ERR_ARG, ctx, "ops is NULL");
    tu_expect_status(rp_augment_corruption_families(ctx, ops, 17, &fam), RP_ERR_ARG, ctx, "outside");
    tu_expect_status(rp_augment_corruption_families(ctx, bad, 2, &fam), RP_ERR_ARG, ctx, "unknown kind 42");
    rp_ctx_destroy(ctx);
}

static void test_objective_families(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_objective_config c = rp_objective_defaults();
    unsigned fam = 99;
    assert_int_equal(rp_objective_corruption_families(ctx, &c, &fam), RP_OK);
    assert_int_equal(fam, 0); /* erm */
    c.kind = RP_OBJ_PGD;
    assert_int_equal(rp_objective_corruption_families(ctx, &c, &fam), RP_OK);
    assert_int_equal(fam, family_bit("noise"));
    tu_expect_status(rp_objective_corruption_families(ctx, NULL, &fam), RP_ERR_ARG, ctx, "cfg is NULL");
    tu_expect_status(rp_objective_corruption_families(ctx, &c, NULL), RP_ERR_ARG, ctx, "families is NULL");
    c.kind = (rp_objective_kind)42;
    tu_expect_status(rp_objective_corruption_families(ctx, &c, &fam), RP_ERR_ARG, ctx, "unknown objective kind 42");
    rp_ctx_destroy(ctx);
}

/* Every batch of two epochs from a loader with cfg: the samples in order, and the pixels. */
static void read_all(rp_ctx *ctx, const rp_dataset *ds, const rp_loader_config *cfg, int *idx, float *x)
{
    rp_loader *l = NULL;
    assert_int_equal(rp_loader_create(ctx, ds, cfg, &l), RP_OK);
    assert_int_equal(rp_loader_batches(l), 3);
    rp_batch bt;
    int seen = 0;
    for (int e = 1; e <= 2; e++)
        for (int b = 0; b < 3; b++) {
            assert_true(rp_loader_next(l, &bt));
            assert_true(bt.epoch == e && bt.index == b && bt.B == (b < 2 ? 4 : 2) && bt.B_all == bt.B);
            assert_null(bt.views);
            memcpy(idx + seen, bt.idx, (size_t)bt.B * sizeof *idx);
            memcpy(x + (size_t)seen * S * S, bt.x, (size_t)bt.B * S * S * sizeof *x);
            seen += bt.B;
        }
    assert_false(rp_loader_next(l, &bt)); /* after the last epoch */
    assert_true(bt.B == 0 && bt.x == NULL);
    rp_loader_destroy(l);
}

static void test_loader(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_dataset *ds = memory_set(ctx);
    rp_loader_config cfg = {.batch = 4, .workers = 0, .seed = 5, .shuffle = false, .first_epoch = 1, .epochs = 2};
    int idx0[2 * N], idx2[2 * N];
    float x0[2 * N * S * S], x2[2 * N * S * S];
    read_all(ctx, ds, &cfg, idx0, x0);
    for (int i = 0; i < 2 * N; i++) assert_int_equal(idx0[i], i % N); /* no shuffle: 0..n-1 */
    cfg.shuffle = true, cfg.augment = "flip,gaussian:0.1", cfg.augment_prob = 0.5f;
    read_all(ctx, ds, &cfg, idx0, x0);
    cfg.workers = 2; /* the same batches from worker threads */
    read_all(ctx, ds, &cfg, idx2, x2);
    assert_memory_equal(idx0, idx2, sizeof idx0);
    assert_memory_equal(x0, x2, sizeof x0);

    rp_loader *l = (rp_loader *)&cfg; /* must be overwritten with NULL on failure */
    rp_loader_config c = cfg;
    tu_expect_status(rp_loader_create(ctx, NULL, &cfg, &l), RP_ERR_ARG, ctx, "the data set is NULL");
    assert_null(l);
    l = (rp_loader *)&cfg;
    tu_expect_status(rp_loader_create(ctx, ds, NULL, &l), RP_ERR_ARG, ctx, "cfg is NULL");
    tu_expect_status(rp_loader_create(ctx, ds, &cfg, NULL), RP_ERR_ARG, ctx, "out is NULL");
    c.batch = 0;
    tu_expect_status(rp_loader_create(ctx, ds, &c, &l), RP_ERR_ARG, ctx, "batch 0");
    assert_null(l);
    c = cfg, c.workers = 65;
    tu_expect_status(rp_loader_create(ctx, ds, &c, &l), RP_ERR_ARG, ctx, "workers 65");
    c = cfg, c.parts = 2, c.part = 2;
    tu_expect_status(rp_loader_create(ctx, ds, &c, &l), RP_ERR_ARG, ctx, "part 2 of 2");
    c = cfg, c.first_batch = 3;
    tu_expect_status(rp_loader_create(ctx, ds, &c, &l), RP_ERR_ARG, ctx, "first batch 3");
    c = cfg, c.augment = "flip,swirl";
    tu_expect_status(rp_loader_create(ctx, ds, &c, &l), RP_ERR_ARG, ctx, "'swirl'");
    c = cfg, c.augment = "crop:4"; /* padding as large as the 4x4 image */
    tu_expect_status(rp_loader_create(ctx, ds, &c, &l), RP_ERR_ARG, ctx, "smaller than the 4x4 image");
    c = cfg, c.views = true; /* views need a mixing op */
    tu_expect_status(rp_loader_create(ctx, ds, &c, &l), RP_ERR_ARG, ctx, "mixing augmentation");
    c = cfg, c.augment_prob = -0.5f;
    tu_expect_status(rp_loader_create(ctx, ds, &c, &l), RP_ERR_ARG, ctx, "probability");
    assert_null(l);

    rp_batch bt = {.B = 9};
    assert_false(rp_loader_next(NULL, &bt));
    assert_int_equal(bt.B, 0);
    assert_int_equal(rp_loader_batches(NULL), 0);
    assert_int_equal(rp_loader_create(ctx, ds, &cfg, &l), RP_OK);
    assert_false(rp_loader_next(l, NULL));
    assert_true(rp_loader_next(l, &bt) && bt.epoch == 1 && bt.index == 0); /* the NULL call took nothing */
    rp_loader_destroy(l);
    rp_loader_destroy(NULL);
    rp_dataset_destroy(ds);
    rp_ctx_destroy(ctx);
}

static void test_sam_and_dist(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model *m = mlp(ctx, K, 1);
    rp_objective_config oc = rp_objective_defaults();
    rp_objective *o = NULL;
    assert_int_equal(rp_objective_create(ctx, m, &oc, 4, &o), RP_OK);
    assert_int_equal(rp_objective_set_sam(o, 0.05f), RP_OK);
    assert_int_equal(rp_objective_set_sam(o, 0.0f), RP_OK);
    assert_int_equal(rp_objective_set_dist(o, NULL), RP_OK); /* one process */
    assert_int_equal(rp_objective_set_sam(NULL, 0.05f), RP_ERR_ARG);
    assert_int_equal(rp_objective_set_dist(NULL, NULL), RP_ERR_ARG);
    tu_expect_status(rp_objective_set_sam(o, -1.0f), RP_ERR_ARG, ctx, "radius -1");
    tu_expect_status(rp_objective_set_sam(o, NAN), RP_ERR_ARG, ctx, "must be finite");
    tu_expect_status(rp_objective_set_sam(o, INFINITY), RP_ERR_ARG, ctx, "must be finite");
    rp_objective_destroy(o);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

static void test_init_from(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model *a = mlp(ctx, K, 1), *b = mlp(ctx, K, 2), *c = mlp(ctx, K + 2, 3);
    char path[512], missing[512];
    snprintf(path, sizeof path, "%s/api_init_from.safetensors", tu_tmpdir());
    snprintf(missing, sizeof missing, "%s/no_such_init.safetensors", tu_tmpdir());
    assert_int_equal(rp_model_save(ctx, a, path, NULL), RP_OK);
    rp_init_report r;
    assert_int_equal(rp_model_init_from(ctx, b, path, &r), RP_OK);
    assert_true(r.file_classes == K && !r.reinit && rp_model_weights_hash(a) == rp_model_weights_hash(b));
    assert_string_equal(r.head, "fc2.weight, fc2.bias");
    assert_int_equal(rp_model_init_from(ctx, c, path, &r), RP_OK); /* another head: re-initialised */
    assert_true(r.file_classes == K && r.reinit);
    assert_int_equal(rp_model_init_from(ctx, c, path, NULL), RP_OK);
    tu_expect_status(rp_model_init_from(ctx, NULL, path, &r), RP_ERR_ARG, ctx, "the model is NULL");
    tu_expect_status(rp_model_init_from(ctx, b, NULL, &r), RP_ERR_ARG, ctx, "path is NULL");
    tu_expect_status(rp_model_init_from(ctx, b, missing, &r), RP_ERR_IO, ctx, "no_such_init");
    remove(path);
    rp_model_destroy(a);
    rp_model_destroy(b);
    rp_model_destroy(c);
    rp_ctx_destroy(ctx);
}

static void test_unfreeze(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model *m = mlp(ctx, K, 1);
    size_t all = rp_model_num_params(m), head = 256 * K + K;
    assert_int_equal(rp_model_num_unfrozen(m), all);
    int at[2] = {2, 4};
    rp_unfreeze_config uc = {.at = at, .n_at = 1, .threshold = 0.01f};
    rp_unfreeze *u = NULL;
    assert_int_equal(rp_unfreeze_create(ctx, m, &uc, &u), RP_OK);
    assert_int_equal(rp_unfreeze_groups(u), 2);
    assert_int_equal(rp_unfreeze_frozen(u), 1);
    assert_string_equal(rp_unfreeze_group(u, 0), "fc1");
    assert_string_equal(rp_unfreeze_group(u, 1), "fc2");
    assert_null(rp_unfreeze_group(u, 2));
    assert_null(rp_unfreeze_group(u, -1));
    assert_int_equal(rp_model_num_unfrozen(m), head);
    assert_null(rp_unfreeze_epoch_start(u, 1));
    assert_string_equal(rp_unfreeze_epoch_start(u, 2), "fc1");
    assert_int_equal(rp_unfreeze_frozen(u), 0);
    assert_int_equal(rp_model_num_unfrozen(m), all);
    char why[160] = "x";
    assert_null(rp_unfreeze_epoch_end(u, 1.0, why, sizeof why)); /* no plateau rule */
    assert_string_equal(why, "");
    rp_unfreeze_destroy(u);

    uc = (rp_unfreeze_config){.patience = 1, .threshold = 0.01f}; /* the plateau rule alone */
    assert_int_equal(rp_unfreeze_create(ctx, m, &uc, &u), RP_OK);
    assert_null(rp_unfreeze_epoch_end(u, 1.0, why, sizeof why)); /* the first loss is the best */
    assert_string_equal(rp_unfreeze_epoch_end(u, 0.995, why, sizeof why), "fc1"); /* < 1% better */
    assert_non_null(strstr(why, "has not improved"));
    rp_unfreeze_destroy(u);

    assert_null(rp_unfreeze_epoch_start(NULL, 2));
    assert_null(rp_unfreeze_epoch_end(NULL, 1.0, why, sizeof why));
    assert_string_equal(why, "");
    assert_int_equal(rp_unfreeze_groups(NULL), 0);
    assert_int_equal(rp_unfreeze_frozen(NULL), 0);
    assert_null(rp_unfreeze_group(NULL, 0));
    assert_int_equal(rp_model_num_unfrozen(NULL), 0);
    rp_unfreeze_destroy(NULL);

    uc = (rp_unfreeze_config){.at = at, .n_at = 2, .threshold = 0.01f};
    u = (rp_unfreeze *)&uc; /* must be overwritten with NULL on failure */
    tu_expect_status(rp_unfreeze_create(ctx, NULL, &uc, &u), RP_ERR_ARG, ctx, "the model is NULL");
    assert_null(u);
    tu_expect_status(rp_unfreeze_create(ctx, m, NULL, &u), RP_ERR_ARG, ctx, "cfg is NULL");
    tu_expect_status(rp_unfreeze_create(ctx, m, &uc, NULL), RP_ERR_ARG, ctx, "out is NULL");
    rp_unfreeze_config c = uc;
    c.at = NULL;
    tu_expect_status(rp_unfreeze_create(ctx, m, &c, &u), RP_ERR_ARG, ctx, "2 epochs at NULL");
    assert_null(u);
    c = uc, c.n_at = -1;
    tu_expect_status(rp_unfreeze_create(ctx, m, &c, &u), RP_ERR_ARG, ctx, "-1 epochs");
    int down[2] = {3, 3};
    c = uc, c.at = down;
    tu_expect_status(rp_unfreeze_create(ctx, m, &c, &u), RP_ERR_ARG, ctx, "positive and increasing (entry 2 is 3)");
    c = uc, c.patience = -1;
    tu_expect_status(rp_unfreeze_create(ctx, m, &c, &u), RP_ERR_ARG, ctx, "patience -1");
    c = uc, c.threshold = 1.0f;
    tu_expect_status(rp_unfreeze_create(ctx, m, &c, &u), RP_ERR_ARG, ctx, "threshold 1");
    assert_int_equal(rp_model_num_unfrozen(m), all); /* nothing was frozen by the failures */
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dataset_options), cmocka_unit_test(test_augment_spec),
        cmocka_unit_test(test_objective_families), cmocka_unit_test(test_loader),
        cmocka_unit_test(test_sam_and_dist),        cmocka_unit_test(test_init_from),
        cmocka_unit_test(test_unfreeze),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
