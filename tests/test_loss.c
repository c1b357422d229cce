/* Softmax cross-entropy (with label smoothing) and KL divergence over logits: closed
 * forms, numerical stability, and central-difference gradient checks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/loss.h"
#include "testutil.h"

/* Closed form in double: -(1-s) log p_y - (s/K) sum_k log p_k, averaged over rows. */
static double xent_ref(const float *l, const int32_t *y, int B, int K, double s)
{
    double total = 0;
    for (int b = 0; b < B; b++) {
        const float *r = l + (size_t)b * K;
        double z = 0;
        for (int k = 0; k < K; k++) z += exp((double)r[k]);
        double lse = log(z), all = 0;
        for (int k = 0; k < K; k++) all += r[k] - lse;
        total += -(1 - s) * (r[y[b]] - lse) - s / K * all;
    }
    return total / B;
}

static void test_xent_closed_form(void **state)
{
    (void)state;
    /* one row [1, 2, 3], label 2: loss = log(1 + e^-1 + e^-2) */
    float l[3] = {1, 2, 3}, d[3];
    int32_t y[1] = {2};
    int correct = -1;
    float loss = rp_softmax_xent(l, y, 1, 3, 0.0f, d, 1.0f, &correct);
    double z = exp(1.0) + exp(2.0) + exp(3.0);
    assert_float_equal(loss, log(1 + exp(-1.0) + exp(-2.0)), 1e-6);
    assert_int_equal(correct, 1);
    float want_d[3] = {(float)(exp(1.0) / z), (float)(exp(2.0) / z), (float)(exp(3.0) / z - 1)};
    tu_assert_close("xent d", d, want_d, 3, 1e-6f, 1e-7f);

    /* equal logits: log K, and the first maximum wins ties (label 1 is then a miss) */
    float u[8] = {0.5f, 0.5f, 0.5f, 0.5f, 7, 7, 7, 7};
    int32_t yu[2] = {1, 0};
    loss = rp_softmax_xent(u, yu, 2, 4, 0.0f, NULL, 1.0f, &correct);
    assert_float_equal(loss, log(4.0), 1e-6);
    assert_int_equal(correct, 1);

    /* mean over the batch, scale, and dlogits WRITTEN (not added to what was there) */
    enum { B = 4, K = 6 };
    float lb[B * K], db[B * K], db1[B * K];
    int32_t yb[B] = {0, 5, 2, 2};
    tu_fill_uniform(lb, B * K, -3, 3, 1);
    for (int i = 0; i < B * K; i++) db[i] = 1e6f;
    loss = rp_softmax_xent(lb, yb, B, K, 0.0f, db, 2.5f, NULL);
    assert_float_equal(loss, xent_ref(lb, yb, B, K, 0), 1e-6);
    rp_softmax_xent(lb, yb, B, K, 0.0f, db1, 1.0f, NULL);
    for (int i = 0; i < B * K; i++) db1[i] *= 2.5f;
    tu_assert_close("xent scale", db, db1, B * K, 1e-6f, 1e-8f);
    /* each row of d(mean loss)/dlogits sums to 0 and its label entry is negative */
    for (int b = 0; b < B; b++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += db1[b * K + k];
        assert_true(fabs(s) < 1e-6);
        assert_true(db1[b * K + yb[b]] < 0);
    }
}

static void test_xent_label_smoothing(void **state)
{
    (void)state;
    enum { B = 3, K = 5 };
    float l[B * K], d[B * K];
    int32_t y[B] = {4, 0, 2};
    tu_fill_uniform(l, B * K, -2, 2, 2);
    const float s = 0.1f;
    float loss = rp_softmax_xent(l, y, B, K, s, d, 1.0f, NULL);
    assert_float_equal(loss, xent_ref(l, y, B, K, s), 1e-6);
    /* gradient closed form: (softmax - ((1-s) onehot + s/K)) / B */
    float want[B * K];
    for (int b = 0; b < B; b++) {
        double z = 0;
        for (int k = 0; k < K; k++) z += exp((double)l[b * K + k]);
        for (int k = 0; k < K; k++)
            want[b * K + k] = (float)((exp((double)l[b * K + k]) / z - (1 - s) * (k == y[b]) - s / K) / B);
    }
    tu_assert_close("smoothed d", d, want, B * K, 1e-5f, 1e-7f);
    /* smoothing of a perfectly confident prediction costs s/K * sum of -log p_k > 0 */
    float sharp[3] = {30, -30, -30};
    int32_t y0[1] = {0};
    assert_true(rp_softmax_xent(sharp, y0, 1, 3, 0.0f, NULL, 1, NULL) < 1e-12f);
    assert_true(rp_softmax_xent(sharp, y0, 1, 3, 0.3f, NULL, 1, NULL) > 5.0f);
}

/* Logits far beyond exp's range: finite loss and gradient (log-softmax via the max). */
static void test_xent_stable(void **state)
{
    (void)state;
    float l[4] = {1000, -1000, 990, 0}, d[4];
    int32_t y[1] = {2};
    int correct;
    float loss = rp_softmax_xent(l, y, 1, 4, 0.1f, d, 1.0f, &correct);
    assert_true(isfinite(loss));
    assert_float_equal(loss, 0.9 * 10.0 + 0.1 / 4 * (0 + 2000 + 10 + 1000), 1e-3);
    for (int k = 0; k < 4; k++) assert_true(isfinite(d[k]));
    assert_int_equal(correct, 0);
}

/* Central differences of the returned loss (rows summed in double inside; the float
 * result limits the difference quotient to ~1e-7 / (2 * 1e-2) ~ 1e-5). Loss is smooth,
 * truncation error ~eps^2 * |f'''| ~ 1e-5 as well: atol 1e-4, rtol 1e-3. */
typedef float (*loss_fn)(float *v, void *arg);

static void fd_check(const char *what, float *v, const float *analytic, int n, loss_fn f,
                     void *arg)
{
    const float eps = 1e-2f;
    for (int i = 0; i < n; i++) {
        float keep = v[i];
        v[i] = keep + eps;
        double lp = f(v, arg);
        v[i] = keep - eps;
        double lm = f(v, arg);
        v[i] = keep;
        double num = (lp - lm) / (2.0 * eps);
        if (!(fabs(analytic[i] - num) <= 1e-4 + 1e-3 * fabs(num)))
            fail_msg("gradcheck %s[%d]: analytic %.7g, finite differences %.7g", what, i,
                     (double)analytic[i], num);
    }
}

enum { GB = 3, GK = 7 };
typedef struct xent_arg {
    const int32_t *y;
    float s;
} xent_arg;

static float xent_of(float *l, void *arg)
{
    xent_arg *a = arg;
    return rp_softmax_xent(l, a->y, GB, GK, a->s, NULL, 1.0f, NULL);
}

static void test_xent_gradcheck(void **state)
{
    (void)state;
    int32_t y[GB] = {6, 0, 3};
    float l[GB * GK], d[GB * GK];
    for (int with_s = 0; with_s < 2; with_s++) {
        tu_fill_uniform(l, GB * GK, -3, 3, 3 + with_s);
        xent_arg a = {y, with_s ? 0.2f : 0.0f};
        rp_softmax_xent(l, y, GB, GK, a.s, d, 1.0f, NULL);
        fd_check(with_s ? "xent smoothed" : "xent", l, d, GB * GK, xent_of, &a);
    }
}

typedef struct kl_arg {
    float *p, *q;
} kl_arg;

static float kl_of(float *v, void *arg)
{
    (void)v;
    kl_arg *a = arg;
    return rp_kl_div_logits(a->p, a->q, GB, GK, NULL, NULL, 1.0f);
}

/* KL closed form in double: mean over rows of sum_k P_k (log P_k - log Q_k). */
static double kl_ref(const float *p, const float *q, int B, int K)
{
    double total = 0;
    for (int b = 0; b < B; b++) {
        double zp = 0, zq = 0;
        for (int k = 0; k < K; k++) {
            zp += exp((double)p[b * K + k]);
            zq += exp((double)q[b * K + k]);
        }
        for (int k = 0; k < K; k++) {
            double lp = p[b * K + k] - log(zp), lq = q[b * K + k] - log(zq);
            total += exp(lp) * (lp - lq);
        }
    }
    return total / B;
}

static void test_kl(void **state)
{
    (void)state;
    float p[GB * GK], q[GB * GK], dp[GB * GK], dq[GB * GK];
    tu_fill_uniform(p, GB * GK, -2, 2, 5);
    tu_fill_uniform(q, GB * GK, -2, 2, 6);
    for (int i = 0; i < GB * GK; i++) dp[i] = dq[i] = 1e6f; /* written, not added to */
    float loss = rp_kl_div_logits(p, q, GB, GK, dp, dq, 1.0f);
    assert_float_equal(loss, kl_ref(p, q, GB, GK), 1e-6);
    assert_true(loss > 0);
    kl_arg a = {p, q};
    fd_check("kl dp", p, dp, GB * GK, kl_of, &a);
    fd_check("kl dq", q, dq, GB * GK, kl_of, &a);

    /* scale multiplies both gradients; NULL skips one */
    float dq3[GB * GK];
    rp_kl_div_logits(p, q, GB, GK, NULL, dq3, 3.0f);
    for (int i = 0; i < GB * GK; i++) dq[i] *= 3.0f;
    tu_assert_close("kl scale", dq3, dq, GB * GK, 1e-6f, 1e-8f);

    /* KL(p || p) = 0 with zero gradients, also after a shift of the logits (softmax is
     * shift-invariant) */
    float p2[GB * GK];
    for (int i = 0; i < GB * GK; i++) p2[i] = p[i] + 4.0f;
    loss = rp_kl_div_logits(p, p2, GB, GK, dp, dq, 1.0f);
    assert_true(fabsf(loss) < 1e-6f);
    for (int i = 0; i < GB * GK; i++) assert_true(fabsf(dp[i]) < 1e-7f && fabsf(dq[i]) < 1e-7f);

    /* extreme logits stay finite */
    float pe[3] = {500, -500, 0}, qe[3] = {-500, 500, 0}, dpe[3], dqe[3];
    loss = rp_kl_div_logits(pe, qe, 1, 3, dpe, dqe, 1.0f);
    assert_float_equal(loss, 1000.0, 1e-2);
    for (int k = 0; k < 3; k++) assert_true(isfinite(dpe[k]) && isfinite(dqe[k]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xent_closed_form),
        cmocka_unit_test(test_xent_label_smoothing),
        cmocka_unit_test(test_xent_stable),
        cmocka_unit_test(test_xent_gradcheck),
        cmocka_unit_test(test_kl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
