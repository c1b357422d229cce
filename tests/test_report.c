/* The evaluation checklist: synthetic accuracy tables with one planted fault each must raise
 * exactly that warning, and a healthy table none. */
#include <math.h>
#include <string.h>

#include "robust/report.h"
#include "testutil.h"

static rp_report_row atk(rp_attack_kind k, float eps, double acc)
{
    return (rp_report_row){.kind = RP_COND_ATTACK, .attack = k, .norm = RP_NORM_LINF, .eps = eps, .steps = 20,
                           .restarts = 1, .accuracy = acc, .ball_checked = true, .in_ball = true, .max_norm = eps};
}

static rp_report_row clean(double acc)
{
    return (rp_report_row){.kind = RP_COND_CLEAN, .accuracy = acc, .determinism_checked = true, .deterministic = true};
}

/* A plausible robust model: accuracy falls with eps, iterative < FGSM, white-box < Square
 * and < noise, ~0 at eps 0.5. */
static int healthy(rp_report_row *r)
{
    int n = 0;
    r[n++] = clean(0.85);
    const float eps[] = {0.05f, 0.1f, 0.5f};
    const double fgsm[] = {0.70, 0.55, 0.08}, pgd[] = {0.65, 0.45, 0.0}, sq[] = {0.72, 0.60, 0.02},
                 noise[] = {0.84, 0.83, 0.30};
    for (int e = 0; e < 3; e++) {
        r[n++] = atk(RP_ATTACK_FGSM, eps[e], fgsm[e]);
        r[n++] = atk(RP_ATTACK_PGD, eps[e], pgd[e]);
        r[n++] = atk(RP_ATTACK_APGD_CE, eps[e], pgd[e] - 0.01 > 0 ? pgd[e] - 0.01 : 0);
        r[n++] = atk(RP_ATTACK_SQUARE, eps[e], sq[e]);
        r[n++] = atk(RP_ATTACK_NOISE, eps[e], noise[e]);
        r[n++] = atk(RP_ATTACK_WORST, eps[e], pgd[e] - 0.02 > 0 ? pgd[e] - 0.02 : 0);
    }
    return n;
}

static int find(rp_report_row *r, int n, rp_attack_kind k, float eps)
{
    for (int i = 0; i < n; i++)
        if (r[i].kind == RP_COND_ATTACK && r[i].attack == k && r[i].eps == eps) return i;
    fail_msg("row not found");
    return -1;
}

/* Run the checker and require exactly one warning with this check id (and needle). */
static void expect_one(rp_report_row *r, int n, const char *check, const char *needle)
{
    rp_warning w[32];
    int k = rp_report_check(r, n, 10, 0.0, w, 32);
    for (int i = 0; i < k && i < 32; i++) print_message("  [%s] %s\n", w[i].check, w[i].message);
    assert_int_equal(k, 1);
    assert_string_equal(w[0].check, check);
    if (!strstr(w[0].message, needle)) fail_msg("message lacks '%s': %s", needle, w[0].message);
}

static void test_healthy(void **state)
{
    (void)state;
    rp_report_row r[64];
    int n = healthy(r);
    rp_warning w[8];
    assert_int_equal(rp_report_check(r, n, 10, 0.0, w, 8), 0);
}

static void test_fgsm_rises(void **state)
{
    (void)state;
    rp_report_row r[64];
    int n = healthy(r);
    r[find(r, n, RP_ATTACK_FGSM, 0.1f)].accuracy = 0.75; /* > 0.70 at 0.05 */
    expect_one(r, n, "eps-monotone", "accuracy rises with eps under FGSM");
    rp_warning w[4];
    rp_report_check(r, n, 10, 0.0, w, 4);
    assert_non_null(strstr(w[0].message, "gradient masking suspected; trust the iterative attacks"));
    assert_non_null(strstr(w[0].message, "0.1 (25.5/255)")); /* eps as decimal and k/255 */
    /* within slack: no warning */
    assert_int_equal(rp_report_check(r, n, 10, 0.06, w, 4), 0);
}

static void test_iterative_above_fgsm(void **state)
{
    (void)state;
    rp_report_row r[64];
    int n = healthy(r);
    r[find(r, n, RP_ATTACK_PGD, 0.05f)].accuracy = 0.71; /* FGSM 0.70 */
    expect_one(r, n, "iterative-vs-fgsm", "PGD leaves more accuracy (71.00%) than single-step FGSM (70.00%)");
}

static void test_square_below_whitebox(void **state)
{
    (void)state;
    rp_report_row r[64];
    int n = healthy(r);
    r[find(r, n, RP_ATTACK_SQUARE, 0.1f)].accuracy = 0.30; /* best white-box: APGD-CE 0.44 */
    expect_one(r, n, "blackbox-vs-whitebox", "black-box Square (30.00%) beats the best white-box attack (APGD-CE");
}

static void test_noise_as_strong(void **state)
{
    (void)state;
    rp_report_row r[64];
    int n = healthy(r);
    r[find(r, n, RP_ATTACK_NOISE, 0.05f)].accuracy = 0.64; /* APGD-CE 0.64 */
    expect_one(r, n, "noise-vs-whitebox", "random noise of the same eps 0.05");
}

static void test_large_eps(void **state)
{
    (void)state;
    rp_report_row r[64];
    int n = healthy(r);
    /* every attack at 0.5 leaves >= 20% (chance is 10%) */
    for (int i = 0; i < n; i++)
        if (r[i].kind == RP_COND_ATTACK && r[i].eps == 0.5f && r[i].attack != RP_ATTACK_NOISE) r[i].accuracy = 0.20 + 0.01 * i;
    /* keep the healthy orderings so only the large-eps check fires */
    r[find(r, n, RP_ATTACK_FGSM, 0.5f)].accuracy = 0.40;
    r[find(r, n, RP_ATTACK_NOISE, 0.5f)].accuracy = 0.60;
    r[find(r, n, RP_ATTACK_SQUARE, 0.5f)].accuracy = 0.45;
    expect_one(r, n, "large-eps", "above chance (10.00%)");
    /* a largest eps below 0.3 is not judged */
    rp_report_row s[64];
    int m = healthy(s);
    for (int i = 0; i < m; i++)
        if (s[i].eps == 0.5f) s[i].eps = 0.2f;
    for (int i = 0; i < m; i++)
        if (s[i].kind == RP_COND_ATTACK && s[i].eps == 0.2f) s[i].accuracy = 0.3 + (s[i].attack == RP_ATTACK_NOISE ? 0.5 : 0) +
                                                                               (s[i].attack == RP_ATTACK_FGSM ? 0.1 : 0) +
                                                                               (s[i].attack == RP_ATTACK_SQUARE ? 0.2 : 0);
    for (int i = 0; i < m; i++)
        if (s[i].kind == RP_COND_ATTACK && s[i].eps == 0.2f && (s[i].attack == RP_ATTACK_WORST || s[i].attack == RP_ATTACK_APGD_CE))
            s[i].accuracy = 0.29;
    rp_warning w[4];
    assert_int_equal(rp_report_check(s, m, 10, 0.0, w, 4), 0);
}

static void test_ball(void **state)
{
    (void)state;
    rp_report_row r[64];
    int n = healthy(r);
    int i = find(r, n, RP_ATTACK_PGD, 0.1f);
    r[i].in_ball = false;
    r[i].max_norm = 0.1004f;
    expect_one(r, n, "ball", "PGD perturbations leave the eps-ball");
}

static void test_steps_and_unbounded_and_determinism(void **state)
{
    (void)state;
    rp_report_row r[64];
    int n = healthy(r);
    rp_report_row more = atk(RP_ATTACK_PGD, 0.1f, 0.47); /* 100 steps, more than 20 steps' 0.45 */
    more.steps = 100;
    r[n++] = more;
    expect_one(r, n, "steps-restarts", "PGD with 100 steps x 1 restarts leaves more accuracy (47.00%)");
    n = healthy(r);
    r[n++] = atk(RP_ATTACK_FGSM, INFINITY, 0.01);
    expect_one(r, n, "unbounded", "unbounded FGSM leaves 1.00% accuracy");
    n = healthy(r);
    r[0].deterministic = false;
    expect_one(r, n, "nondeterministic", "same input gave different logits");
}

/* Transfer rows are judged for the ball only: a transfer FGSM rising with eps is normal. */
static void test_transfer_rows(void **state)
{
    (void)state;
    rp_report_row r[8];
    int n = 0;
    r[n++] = clean(0.9);
    r[n++] = atk(RP_ATTACK_FGSM, 0.1f, 0.5);
    r[n++] = atk(RP_ATTACK_FGSM, 0.2f, 0.6);
    r[n++] = atk(RP_ATTACK_PGD, 0.1f, 0.7);
    for (int i = 1; i < n; i++) r[i].transfer = true;
    rp_warning w[4];
    assert_int_equal(rp_report_check(r, n, 10, 0.0, w, 4), 0);
    r[3].in_ball = false;
    expect_one(r, n, "ball", "PGD (transfer) perturbations");
    /* the count is complete even when out has no room */
    r[1].transfer = r[2].transfer = false;
    assert_int_equal(rp_report_check(r, n, 10, 0.0, w, 0), 2);
}

static void test_format_eps(void **state)
{
    (void)state;
    char b[48];
    assert_string_equal(rp_format_eps(b, sizeof b, 8.0f / 255.0f), "0.03137 (8/255)");
    assert_string_equal(rp_format_eps(b, sizeof b, 0.1f), "0.1 (25.5/255)");
    assert_string_equal(rp_format_eps(b, sizeof b, INFINITY), "inf");
    rp_ctx *ctx = rp_ctx_create(1);
    float e = -1;
    assert_int_equal(rp_parse_eps(ctx, "8/255", &e), RP_OK);
    assert_float_equal(e, 8.0 / 255.0, 1e-7);
    assert_int_equal(rp_parse_eps(ctx, "0.1", &e), RP_OK);
    assert_float_equal(e, 0.1, 1e-7);
    assert_int_equal(rp_parse_eps(ctx, "inf", &e), RP_OK);
    assert_true(isinf(e));
    const char *bad[] = {"", "x", "0.1x", "8/0", "8/", "nan", "1e999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_int_equal(rp_parse_eps(ctx, bad[i], &e), RP_ERR_ARG);
    assert_int_equal(rp_parse_eps(ctx, "-0.1", &e), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(ctx), "eps must be >= 0"));
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy),          cmocka_unit_test(test_fgsm_rises),
        cmocka_unit_test(test_iterative_above_fgsm), cmocka_unit_test(test_square_below_whitebox),
        cmocka_unit_test(test_noise_as_strong),  cmocka_unit_test(test_large_eps),
        cmocka_unit_test(test_ball),             cmocka_unit_test(test_steps_and_unbounded_and_determinism),
        cmocka_unit_test(test_transfer_rows),    cmocka_unit_test(test_format_eps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
