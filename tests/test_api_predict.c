/* What rampart predict needs from the public API (include/rampart.h): rp_model_infer gives
 * rp_model_forward's evaluation logits, rp_image_load fits a PNG to the asked size,
 * rp_checkpoint_class_names reads the names rp_model_save wrote, rp_imagenet_norm gives
 * torchvision's normalisation; a NULL argument, a batch outside [1, max_batch], a bad size or a
 * missing file is an error status with a message. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

enum { B = 2, S = 8, K = 3 };

static rp_model *make(rp_ctx *ctx)
{
    rp_model_config cfg = {.arch = "smallcnn", .num_classes = K, .H = S, .W = S, .C = 3, .max_batch = B, .seed = 5};
    for (int c = 0; c < 3; c++) cfg.mean[c] = 0.5f, cfg.std[c] = 0.25f;
    rp_model *m = NULL;
    if (rp_model_create(ctx, &cfg, &m) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    return m;
}

static void test_infer(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model *m = make(ctx);
    float x[B * S * S * 3], ref[B * K];
    tu_fill_uniform(x, sizeof x / sizeof x[0], 0.0f, 1.0f, 9);
    memcpy(ref, rp_model_forward(m, x, B, false), sizeof ref);
    const float *logits = NULL;
    assert_int_equal(rp_model_infer(ctx, m, x, B, &logits), RP_OK);
    for (int i = 0; i < B * K; i++) assert_true(fabsf(logits[i] - ref[i]) <= 1e-5f * (1.0f + fabsf(ref[i])));
    tu_expect_status(rp_model_infer(ctx, NULL, x, B, &logits), RP_ERR_ARG, ctx, "the model is NULL");
    tu_expect_status(rp_model_infer(ctx, m, NULL, B, &logits), RP_ERR_ARG, ctx, "x is NULL");
    tu_expect_status(rp_model_infer(ctx, m, x, B, NULL), RP_ERR_ARG, ctx, "logits is NULL");
    tu_expect_status(rp_model_infer(ctx, m, x, 0, &logits), RP_ERR_ARG, ctx, "batch 0 outside [1, 2]");
    tu_expect_status(rp_model_infer(ctx, m, x, B + 1, &logits), RP_ERR_ARG, ctx, "batch 3 outside [1, 2]");
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

static void test_image_and_names(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    char png[512], ckpt[512], missing[512];
    snprintf(png, sizeof png, "%s/api_predict.png", tu_tmpdir());
    snprintf(ckpt, sizeof ckpt, "%s/api_predict.safetensors", tu_tmpdir());
    snprintf(missing, sizeof missing, "%s/no_such_image.png", tu_tmpdir());
    float img[4 * 4 * 3], x[S * S * 3];
    for (int i = 0; i < 4 * 4 * 3; i++) img[i] = (float)(i % 3) / 2.0f; /* 0, 0.5, 1 per channel */
    assert_int_equal(rp_image_write_png(ctx, png, img, 4, 4, 3, 1), RP_OK);
    assert_int_equal(rp_image_load(ctx, png, S, S, 3, x), RP_OK); /* upsampled: constant per channel */
    for (int i = 0; i < S * S * 3; i++) assert_true(fabsf(x[i] - img[i % 3]) <= 1.0f / 255.0f + 1e-6f);
    tu_expect_status(rp_image_load(ctx, NULL, S, S, 3, x), RP_ERR_ARG, ctx, "path is NULL");
    tu_expect_status(rp_image_load(ctx, png, S, S, 3, NULL), RP_ERR_ARG, ctx, "x is NULL");
    tu_expect_status(rp_image_load(ctx, png, 0, S, 3, x), RP_ERR_ARG, ctx, "size 0x8");
    tu_expect_status(rp_image_load(ctx, png, S, S, 2, x), RP_ERR_UNSUPPORTED, ctx, "1 or 3 channels");
    assert_int_not_equal(rp_image_load(ctx, missing, S, S, 3, x), RP_OK);
    assert_non_null(strstr(rp_ctx_error(ctx), "no_such_image.png"));

    float mean[3], std[3];
    assert_int_equal(rp_imagenet_norm(ctx, mean, std), RP_OK);
    assert_true(mean[0] == 0.485f && mean[2] == 0.406f && std[1] == 0.224f);
    tu_expect_status(rp_imagenet_norm(ctx, NULL, std), RP_ERR_ARG, ctx, "mean is NULL");
    tu_expect_status(rp_imagenet_norm(ctx, mean, NULL), RP_ERR_ARG, ctx, "std is NULL");

    rp_model *m = make(ctx);
    const char *const names[K] = {"cat", "dog", "bird"};
    assert_int_equal(rp_model_save(ctx, m, ckpt, names), RP_OK);
    char **got = NULL;
    int n = -1;
    assert_int_equal(rp_checkpoint_class_names(ctx, ckpt, &got, &n), RP_OK);
    assert_int_equal(n, K);
    for (int k = 0; k < K; k++) assert_string_equal(got[k], names[k]);
    rp_checkpoint_free_names(got, n);
    rp_checkpoint_free_names(NULL, 0);
    tu_expect_status(rp_checkpoint_class_names(ctx, NULL, &got, &n), RP_ERR_ARG, ctx, "path is NULL");
    tu_expect_status(rp_checkpoint_class_names(ctx, ckpt, NULL, &n), RP_ERR_ARG, ctx, "names is NULL");
    tu_expect_status(rp_checkpoint_class_names(ctx, ckpt, &got, NULL), RP_ERR_ARG, ctx, "n is NULL");
    assert_int_not_equal(rp_checkpoint_class_names(ctx, missing, &got, &n), RP_OK);
    assert_non_null(strstr(rp_ctx_error(ctx), "no_such_image.png"));
    remove(png), remove(ckpt);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_infer),
        cmocka_unit_test(test_image_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
