/* AugMix's Jensen-Shannon consistency loss (rp_jsd_logits) against PyTorch 1.13
 * (tests/reference/consistency.py, float64 from float32 inputs) and against central finite
 * differences in double of the loss itself.
 *
 * Tolerances: the loss and its gradient are computed in double and rounded once to float,
 * so rtol 1e-5 with atol 1e-7 (gradients are O(1/(V B)), down to ~1e-9 for unlikely classes)
 * leaves room for summation order only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "kernels/loss.h"
#include "testutil.h"

static float *read_tensor(rp_ctx *ctx, rp_st_file *f, const char *key, size_t *numel)
{
    const rp_st_tensor *t = rp_st_find(f, key);
    if (!t) fail_msg("no tensor %s", key);
    float *v = malloc(t->numel * sizeof *v);
    assert_non_null(v);
    assert_int_equal(rp_st_read_f32(ctx, f, key, v, t->numel), RP_OK);
    if (numel) *numel = t->numel;
    return v;
}

static void check_case(const char *name)
{
    char path[512], file[128];
    rp_ctx *ctx = rp_ctx_create(1);
    rp_st_file *f = NULL;
    snprintf(file, sizeof file, "consistency_%s.safetensors", name);
    if (rp_st_open(ctx, tu_ref_path(path, sizeof path, file), &f) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    int V = atoi(rp_st_meta(f, "V")), B = atoi(rp_st_meta(f, "B"));
    float scale = strtof(rp_st_meta(f, "scale"), NULL);
    size_t n;
    float *z = read_tensor(ctx, f, "z", &n), *want_dz = read_tensor(ctx, f, "dz", NULL),
          *want_loss = read_tensor(ctx, f, "loss", NULL);
    int K = (int)(n / ((size_t)V * B));
    float *dz = malloc(n * sizeof *dz);
    for (size_t i = 0; i < n; i++) dz[i] = 0.25f; /* the gradient is added, not written */
    float loss = rp_jsd_logits(z, V, B, K, dz, scale);
    for (size_t i = 0; i < n; i++) dz[i] -= 0.25f;
    char what[160];
    snprintf(what, sizeof what, "%s: loss", name);
    tu_assert_close(what, &loss, want_loss, 1, 1e-5f, 1e-7f);
    snprintf(what, sizeof what, "%s: dz", name);
    tu_assert_close(what, dz, want_dz, n, 1e-4f, 2e-7f);
    assert_true(loss >= 0.0f);
    free(z), free(dz), free(want_dz), free(want_loss);
    rp_st_close(f);
    rp_ctx_destroy(ctx);
}

static void test_against_pytorch(void **state)
{
    (void)state;
    check_case("jsd3");
    check_case("jsd3_scaled");
    check_case("jsd2");
    check_case("jsd3_tiny");
}

/* Central differences of the returned loss (float, so h = 1e-2 on O(1) logits and a loose
 * bound; the double-precision PyTorch check above is the tight one). */
static void test_finite_differences(void **state)
{
    (void)state;
    enum { V = 3, B = 2, K = 4 };
    float z[V * B * K], dz[V * B * K] = {0};
    tu_fill_uniform(z, V * B * K, -2.0f, 2.0f, 7);
    rp_jsd_logits(z, V, B, K, dz, 1.0f);
    for (int i = 0; i < V * B * K; i++) {
        float keep = z[i], h = 1e-2f;
        z[i] = keep + h;
        double up = rp_jsd_logits(z, V, B, K, NULL, 1.0f);
        z[i] = keep - h;
        double down = rp_jsd_logits(z, V, B, K, NULL, 1.0f);
        z[i] = keep;
        double fd = (up - down) / (2.0 * h);
        if (fabs(fd - dz[i]) > 2e-3 * (fabs(fd) + 1e-2)) fail_msg("dz[%d] = %g, finite difference %g", i, (double)dz[i], fd);
    }
}

/* Identical views have zero divergence and zero gradient; different views a positive one. */
static void test_identical_views(void **state)
{
    (void)state;
    enum { V = 3, B = 2, K = 5 };
    float z[V * B * K], dz[V * B * K] = {0};
    tu_fill_uniform(z, B * K, -3.0f, 3.0f, 11);
    memcpy(z + B * K, z, sizeof(float) * B * K);
    memcpy(z + 2 * B * K, z, sizeof(float) * B * K);
    float l = rp_jsd_logits(z, V, B, K, dz, 12.0f);
    assert_true(fabsf(l) < 1e-6f);
    for (int i = 0; i < V * B * K; i++) assert_true(fabsf(dz[i]) < 1e-6f);
    z[B * K] += 1.0f;
    assert_true(rp_jsd_logits(z, V, B, K, NULL, 1.0f) > 1e-4f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_pytorch),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_identical_views),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
