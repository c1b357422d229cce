/* rp_tensors_write, rp_eps_text and rp_fail (include/rampart.h): tensors written as float32
 * and int64 read back by the library's safetensors reader with their metadata; bad counts,
 * names, dtypes, shapes and NULL arrays are RP_ERR_ARG naming what is wrong; eps text that does
 * not fit is RP_ERR_ARG; rp_fail records a caller's message (or "(no message)") and returns
 * the code. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/safetensors.h"
#include "testutil.h"

static void test_tensors_write(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    char path[512];
    snprintf(path, sizeof path, "%s/api_tensors.safetensors", tu_tmpdir());
    const float a[6] = {0.5f, -1.0f, 2.0f, 3.0f, 4.0f, 5.5f}, lab[3] = {2, 0, 7};
    rp_tensor_entry t[2] = {{"a", RP_TENSOR_F32, 2, {2, 3}, a}, {"labels", RP_TENSOR_I64, 1, {3}, lab}};
    const char *keys[1] = {"note"}, *vals[1] = {"hello"};
    assert_int_equal(rp_tensors_write(ctx, path, t, 2, keys, vals, 1), RP_OK);
    rp_st_file *f = NULL;
    assert_int_equal(rp_st_open(ctx, path, &f), RP_OK);
    float back[6], lb[3];
    assert_int_equal(rp_st_read_f32(ctx, f, "a", back, 6), RP_OK);
    assert_memory_equal(back, a, sizeof a);
    assert_int_equal(rp_st_read_f32(ctx, f, "labels", lb, 3), RP_OK);
    assert_memory_equal(lb, lab, sizeof lab);
    assert_string_equal(rp_st_meta(f, "note"), "hello");
    rp_st_close(f);

    rp_tensor_entry bad = t[0];
    tu_expect_status(rp_tensors_write(ctx, NULL, t, 2, keys, vals, 1), RP_ERR_ARG, ctx, "path is NULL");
    tu_expect_status(rp_tensors_write(ctx, path, NULL, 2, keys, vals, 1), RP_ERR_ARG, ctx, "tensors is NULL");
    tu_expect_status(rp_tensors_write(ctx, path, t, 2, NULL, vals, 1), RP_ERR_ARG, ctx, "the metadata is NULL");
    tu_expect_status(rp_tensors_write(ctx, path, t, -1, keys, vals, 1), RP_ERR_ARG, ctx, "-1 tensors");
    bad.dtype = (rp_tensor_dtype)7;
    tu_expect_status(rp_tensors_write(ctx, path, &bad, 1, NULL, NULL, 0), RP_ERR_ARG, ctx, "unknown dtype 7");
    bad = t[0], bad.ndim = 9;
    tu_expect_status(rp_tensors_write(ctx, path, &bad, 1, NULL, NULL, 0), RP_ERR_ARG, ctx, "9 dimensions");
    bad = t[0], bad.name = "__metadata__";
    tu_expect_status(rp_tensors_write(ctx, path, &bad, 1, NULL, NULL, 0), RP_ERR_ARG, ctx, "invalid name");
    bad = t[0], bad.data = NULL;
    tu_expect_status(rp_tensors_write(ctx, path, &bad, 1, NULL, NULL, 0), RP_ERR_ARG, ctx, "has no data");
    const char *null_val[1] = {NULL};
    tu_expect_status(rp_tensors_write(ctx, path, t, 2, keys, null_val, 1), RP_ERR_ARG, ctx, "metadata entry 0 is NULL");
    remove(path);
    rp_ctx_destroy(ctx);
}

static void test_eps_text_and_fail(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    char buf[32];
    assert_int_equal(rp_eps_text(ctx, 8.0f / 255.0f, buf, sizeof buf), RP_OK);
    assert_string_equal(buf, "0.03137 (8/255)");
    assert_int_equal(rp_eps_text(ctx, INFINITY, buf, sizeof buf), RP_OK);
    assert_string_equal(buf, "inf");
    tu_expect_status(rp_eps_text(ctx, 0.1f, NULL, 32), RP_ERR_ARG, ctx, "buf is NULL");
    tu_expect_status(rp_eps_text(ctx, 0.1f, buf, 4), RP_ERR_ARG, ctx, "too small");
    assert_int_equal(rp_fail(ctx, RP_ERR_IO, "my step %d failed", 3), RP_ERR_IO);
    assert_string_equal(rp_ctx_error(ctx), "my step 3 failed");
    assert_int_equal(rp_fail(ctx, RP_ERR_ARG, NULL), RP_ERR_ARG);
    assert_string_equal(rp_ctx_error(ctx), "(no message)");
    assert_int_equal(rp_fail(NULL, RP_ERR_NOMEM, "nowhere"), RP_ERR_NOMEM);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensors_write),
        cmocka_unit_test(test_eps_text_and_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
