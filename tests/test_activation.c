/* ReLU and ReLU6: forward values and finite-difference gradients. */
#include "testutil.h"

static int build_relu(rp_graph *g, int in, void *arg)
{
    (void)arg;
    return rp_g_relu(g, in, "act");
}

static int build_relu6(rp_graph *g, int in, void *arg)
{
    (void)arg;
    return rp_g_relu6(g, in, "act");
}

static void test_relu_gradcheck(void **state)
{
    (void)state;
    float kinks[] = {0.0f};
    tu_gc_opts o = {.B = 2, .eps = 1e-3f, .rtol = 1e-2f, .atol = 1e-3f, .max_checks = 200,
                    .lo = -3, .hi = 3, .kinks = kinks, .n_kinks = 1, .seed = 1};
    tu_gradcheck((rp_shape){3, 4, 5}, build_relu, NULL, &o);
}

static void test_relu6_gradcheck(void **state)
{
    (void)state;
    float kinks[] = {0.0f, 6.0f};
    tu_gc_opts o = {.B = 2, .eps = 1e-3f, .rtol = 1e-2f, .atol = 1e-3f, .max_checks = 200,
                    .lo = -3, .hi = 9, .kinks = kinks, .n_kinks = 2, .seed = 2};
    tu_gradcheck((rp_shape){3, 4, 5}, build_relu6, NULL, &o);
}

static void test_relu6_values(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_graph g;
    rp_graph_init(&g, ctx, (rp_shape){1, 1, 5});
    assert_true(rp_g_relu6(&g, RP_INPUT, "act") >= 0);
    assert_int_equal(rp_graph_finalize(&g, 1, 0), RP_OK);
    float x[5] = {-1, 0.5f, 3, 6, 7.5f}, want[5] = {0, 0.5f, 3, 6, 6};
    const float *y = rp_graph_forward(&g, x, 1, false);
    tu_assert_close("relu6", y, want, 5, 0, 0);
    rp_graph_free(&g);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relu_gradcheck),
        cmocka_unit_test(test_relu6_gradcheck),
        cmocka_unit_test(test_relu6_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
