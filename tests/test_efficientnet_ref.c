/* efficientnet_b0 against torchvision 0.14 (tests/reference/efficientnet.py): a torchvision
 * state_dict (random weights, calibrated batch-norm statistics) loads into rampart's model by
 * its own keys; evaluation mode gives torchvision's logits and input gradient, with the plan's
 * fusions and chains and without them; training mode (batch statistics; dropout and
 * stochastic depth off, as in the reference) its logits, input gradient and parameter
 * gradients, layer by layer and with the training fold.
 *
 * Tolerances: logits |ours - torch| <= 1e-4 + 1e-4 |torch| (float32 through 81 convs and 49
 * batch norms against float64: measured 6e-6 in evaluation); gradients: relative L2 error
 * <= 1e-4 in evaluation, 1e-3 in training (batch norms over as few as 16 values at the
 * last stages, as test_models_ref.c allows MobileNetV2), per parameter tensor by its norm and,
 * for a few tensors, element by element. */
#include "model_testutil.h"

static void test_eval_against_torchvision(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    mtu_ref r;
    mtu_ref_open(&r, ctx, "efficientnet_b0", 10);
    rp_model *m = mtu_ref_model(&r, "efficientnet_b0");
    mtu_ref_eval(&r, m);
    /* training mode without dropout and stochastic depth: the model rp_model_create makes,
     * built with p = 0 for both */
    rp_model_config c = m->cfg;
    c.arch = "efficientnet_b0";
    rp_model_destroy(m);
    m = mtu_model_begin(ctx, &c);
    assert_true(rp_build_efficientnet_b0_opts(&m->g, &m->cfg, 0.0f, 0.0f) >= 0);
    mtu_model_finish(m);
    /* gradient norms within 1e-3 relative, or 1e-4 of the largest norm: a batch norm whose
     * output goes through a conv into a training-mode batch norm has a bias gradient that is
     * zero in exact arithmetic (the second one subtracts any per-channel shift) */
    mtu_ref_train(&r, m, true, 1e-3, 1e-4, 7 /* GRAD_KEYS in tests/reference/efficientnet.py */);
    rp_model_destroy(m);
    mtu_ref_close(&r);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_against_torchvision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
