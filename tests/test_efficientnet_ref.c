/* efficientnet_b0 against torchvision 0.14 (tests/reference/efficientnet.py): a torchvision
 * state_dict (random weights, calibrated batch-norm statistics) loads into rampart's model by
 * its own keys, and evaluation mode gives torchvision's logits and input gradient, with the
 * plan's fusions and chains and without them.
 *
 * Tolerances: logits |ours - torch| <= 1e-4 + 1e-4 |torch| (float32 through 81 convs and 49
 * batch norms against float64: measured 6e-6); input gradient relative L2 error <= 1e-4. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "nn/model.h"
#include "testutil.h"

static float *read_all(rp_ctx *ctx, rp_st_file *f, const char *key, size_t *n)
{
    const rp_st_tensor *t = rp_st_find(f, key);
    if (!t) fail_msg("efficientnet_b0.safetensors: no tensor %s", key);
    float *v = malloc(t->numel * sizeof *v);
    assert_int_equal(rp_st_read_f32(ctx, f, key, v, t->numel), RP_OK);
    *n = t->numel;
    return v;
}

static void test_eval_against_torchvision(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    char path[512];
    rp_st_file *f;
    if (rp_st_open(ctx, tu_ref_path(path, sizeof path, "efficientnet_b0.safetensors"), &f) != RP_OK)
        fail_msg("%s", rp_ctx_error(ctx));
    int B = atoi(rp_st_meta(f, "B")), H = atoi(rp_st_meta(f, "H")), W = atoi(rp_st_meta(f, "W"));
    rp_model_config c = {.arch = "efficientnet_b0", .num_classes = 10, .H = H, .W = W, .C = 3,
                         .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f}, .max_batch = B, .seed = 1};
    rp_model *m = NULL;
    if (rp_model_create(ctx, &c, &m) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    /* every tensor NaN first: whatever the file does not set would show */
    for (int i = 0; i < m->g.n_params; i++)
        for (size_t k = 0; k < m->g.params[i].numel; k++) m->g.params[i].data[k] = NAN;
    if (rp_model_load_weights(ctx, m, tu_ref_path(path, sizeof path, "efficientnet_b0_weights.safetensors"), false) != RP_OK)
        fail_msg("%s", rp_ctx_error(ctx));
    size_t nx, ny, n;
    float *x = read_all(ctx, f, "x", &nx), *dy = read_all(ctx, f, "dy", &ny);
    float *want_y = read_all(ctx, f, "eval_logits", &n), *want_dx = read_all(ctx, f, "eval_dx", &n);
    assert_int_equal(nx, (size_t)B * H * W * 3);
    assert_int_equal(ny, (size_t)B * 10);
    float *dx = malloc(nx * sizeof *dx);
    const unsigned options[2] = {0, RP_OPT_NO_FUSION | RP_OPT_NO_CHAIN};
    for (int o = 0; o < 2; o++) {
        m->g.options = options[o];
        tu_assert_close(o ? "logits, plain" : "logits", rp_graph_forward(&m->g, x, B, false), want_y, ny, 1e-4f, 1e-4f);
        rp_graph_backward(&m->g, dy, dx, false);
        double d = 0, s = 0;
        for (size_t i = 0; i < nx; i++) {
            d += ((double)dx[i] - want_dx[i]) * ((double)dx[i] - want_dx[i]);
            s += (double)want_dx[i] * want_dx[i];
        }
        if (!(s > 0 && sqrt(d / s) <= 1e-4)) fail_msg("input gradient: relative L2 error %g", sqrt(d / s));
    }
    free(x);
    free(dy);
    free(dx);
    free(want_y);
    free(want_dx);
    rp_model_destroy(m);
    rp_st_close(f);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_against_torchvision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
