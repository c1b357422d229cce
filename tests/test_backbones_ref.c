/* resnet50, resnext50_32x4d and densenet121 against torchvision 0.14 (tests/reference/
 * backbones.py; as test_efficientnet_ref.c for efficientnet_b0): a torchvision state_dict
 * (random weights, calibrated batch-norm statistics) loads into rampart's model by its own
 * keys (every tensor NaN before: nothing unset); evaluation mode gives torchvision's logits
 * and input gradient, with the plan's fusions and chains and without them; training mode
 * (batch statistics) its logits, input gradient and parameter gradients. 64 px, 2 images,
 * float64 references. The reference keeps every ReLU input >= 1e-5 from 0 and the two largest
 * entries of every max-pool window >= 1e-6 apart (asserted from the metadata), so float
 * rounding cannot flip a mask or a max.
 *
 * Tolerances, with the largest errors measured (printed by each run):
 *   logits              |ours - torch| <= 1e-4 + 1e-4 |torch|   (6e-6: 0.03 of it)
 *   input gradient      relative L2 <= 1e-4                     (eval 9e-7, training 8e-6)
 *   parameter gradients each tensor's norm within 1e-4 relative + 1e-5 of the largest norm,
 *                       seven whole tensors relative L2 <= 1e-4 (1.2e-5)
 * The training fold (CONV_BN_TRAIN) is forced for densenet121 only, whose one widening
 * pointwise conv has 64 inputs: the ResNets' (64 to 512 inputs, up to 2048 outputs) never pass
 * pwbn_worth, and forcing it there costs about a minute of pwbn_backward's C x C x OC loops. */
#include <stdlib.h>

#include "model_testutil.h"

enum { CLASSES = 10, GRAD_KEYS = 7 /* per model in tests/reference/backbones.py */ };

static void run_case(const char *arch, bool fold)
{
    rp_ctx *ctx = rp_ctx_create(2);
    mtu_ref r;
    mtu_ref_open(&r, ctx, arch, CLASSES);
    double kink = strtod(mtu_meta(r.f, "kink_margin"), NULL), pool = strtod(mtu_meta(r.f, "pool_margin"), NULL);
    if (!(kink >= 1e-5 && pool >= 1e-6))
        fail_msg("%s: the reference's ReLU inputs come %g from 0 and its max-pool windows' two largest entries "
                 "%g from each other (need 1e-5 and 1e-6: float32 could choose otherwise)", arch, kink, pool);
    rp_model *m = mtu_ref_model(&r, arch);
    print_message("%s (%d x %dx%d):\n", arch, r.B, r.H, r.W);
    mtu_ref_eval(&r, m);
    mtu_ref_train(&r, m, fold, 1e-4, 1e-5, GRAD_KEYS);
    rp_model_destroy(m);
    mtu_ref_close(&r);
    rp_ctx_destroy(ctx);
}

static void test_resnet50(void **state)
{
    (void)state;
    run_case("resnet50", false);
}

static void test_resnext50_32x4d(void **state)
{
    (void)state;
    run_case("resnext50_32x4d", false);
}

static void test_densenet121(void **state)
{
    (void)state;
    run_case("densenet121", true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resnet50),
        cmocka_unit_test(test_resnext50_32x4d),
        cmocka_unit_test(test_densenet121),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
