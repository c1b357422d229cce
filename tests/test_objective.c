/* Robust training objectives on an mlp (no BatchNorm or dropout, so training and eval mode
 * agree and gradients can be recomputed independently): advreg reuses the clean pass's
 * parameter gradients and adds multiplier x those at its neighbour; the special cases that
 * must equal erm do; trades' joint pass equals two separate passes; every objective trains;
 * the L1 machinery of advreg (NSL's direction, exact projection); SAM around an objective. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/loss.h"
#include "robust/attack.h"
#include "robust/objective.h"
#include "testutil.h"

enum { N_DATA = 1000, B = 50 };

static struct {
    rp_ctx *ctx;
    rp_dataset *ds;
    float *x;     /* all N_DATA images */
    int32_t *y;
    size_t X;
    int K;
    rp_model_config mc;
} S;

static int setup(void **state)
{
    (void)state;
    S.ctx = rp_ctx_create(2);
    assert_int_equal(rp_dataset_open(S.ctx, "fashion-mnist", true, &S.ds), RP_OK);
    rp_dataset_truncate(S.ds, N_DATA);
    int H, W, C;
    rp_dataset_shape(S.ds, &H, &W, &C);
    S.K = rp_dataset_num_classes(S.ds);
    S.X = (size_t)H * W * C;
    S.mc = (rp_model_config){.arch = "mlp", .num_classes = S.K, .H = H, .W = W, .C = C, .max_batch = B, .seed = 7};
    rp_dataset_norm(S.ds, S.mc.mean, S.mc.std);
    S.x = malloc((size_t)N_DATA * S.X * sizeof(float));
    S.y = malloc(N_DATA * sizeof(int32_t));
    int *idx = malloc(N_DATA * sizeof(int));
    rp_permutation(idx, N_DATA, 3, 0);
    rp_dataset_gather(S.ds, idx, N_DATA, S.x, S.y);
    free(idx);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rp_dataset_destroy(S.ds);
    rp_ctx_destroy(S.ctx);
    free(S.x), free(S.y);
    return 0;
}

static rp_model *new_model(void)
{
    rp_model *m = NULL;
    assert_int_equal(rp_model_create(S.ctx, &S.mc, &m), RP_OK);
    return m;
}

static rp_optim *new_sgd(rp_model *m, float lr, float momentum)
{
    rp_optim_config c = rp_optim_defaults(RP_SGD);
    c.lr = lr, c.momentum = momentum;
    rp_optim *o = NULL;
    assert_int_equal(rp_optim_create(S.ctx, m, &c, &o), RP_OK);
    return o;
}

static rp_objective *new_objective(rp_model *m, const rp_objective_config *c)
{
    rp_objective *o = NULL;
    if (rp_objective_create(S.ctx, m, c, B, &o) != RP_OK) fail_msg("objective: %s", rp_ctx_error(S.ctx));
    return o;
}

/* Train `steps` steps of batch B from the data's start; returns the mean loss of the first
 * and last five steps. */
static void train(rp_model *m, const rp_objective_config *c, int steps, float *first, float *last)
{
    rp_objective *o = new_objective(m, c);
    rp_optim *opt = new_sgd(m, 0.05f, 0.9f);
    double f = 0, l = 0;
    for (int s = 0; s < steps; s++) {
        int off = (s * B) % N_DATA;
        rp_step_stats st;
        if (rp_train_step(o, opt, S.x + (size_t)off * S.X, S.y + off, B, &st) != RP_OK)
            fail_msg("step %d: %s", s, rp_ctx_error(S.ctx));
        if (s < 5) f += st.loss / 5;
        if (s >= steps - 5) l += st.loss / 5;
        if (c->kind == RP_OBJ_FAST || c->kind == RP_OBJ_PGD || c->kind == RP_OBJ_TRADES) {
            float mx;
            if (!rp_attack_check_ball(S.x + (size_t)off * S.X, o->x_adv, B, S.X, c->norm, c->eps, 0.0f, 1.0f, &mx))
                fail_msg("objective %d: x_adv leaves the eps=%g ball (%g)", (int)c->kind, (double)c->eps, (double)mx);
        }
    }
    if (first) *first = (float)f;
    if (last) *last = (float)l;
    rp_optim_destroy(opt);
    rp_objective_destroy(o);
}

/* Parameters of a and b equal exactly (==, so +0 and -0 agree). */
static void assert_params_equal(const rp_model *a, const rp_model *b, const char *what)
{
    for (int i = 0; i < a->g.n_params; i++) {
        const rp_param *p = &a->g.params[i], *q = &b->g.params[i];
        for (size_t k = 0; k < p->numel; k++)
            if (!(p->data[k] == q->data[k]))
                fail_msg("%s: %s[%zu] %.9g != %.9g", what, p->name, k, (double)p->data[k], (double)q->data[k]);
    }
}

/* advreg with multiplier 0 and fgsm with alpha 1 are erm bit for bit: asking the clean pass
 * for the input gradient leaves its parameter gradients untouched. */
static void test_special_cases_equal_erm(void **state)
{
    (void)state;
    rp_objective_config erm = rp_objective_defaults(), adv = erm, fg = erm;
    adv.kind = RP_OBJ_ADVREG, adv.multiplier = 0.0f;
    fg.kind = RP_OBJ_FGSM, fg.alpha = 1.0f, fg.eps = 0.1f;
    rp_model *a = new_model(), *b = new_model(), *c = new_model();
    train(a, &erm, 6, NULL, NULL);
    train(b, &adv, 6, NULL, NULL);
    train(c, &fg, 6, NULL, NULL);
    assert_params_equal(a, b, "advreg multiplier 0 vs erm");
    assert_params_equal(a, c, "fgsm alpha 1 vs erm");
    rp_model_destroy(a), rp_model_destroy(b), rp_model_destroy(c);
}

/* The test's own NSL direction (sign / g / max(||g||, 1e-6) / L1 one-hot over ties). */
static void nsl_direction(rp_norm norm, const float *g, float *d, size_t n)
{
    double s2 = 0.0;
    float mx = 0.0f;
    int ties = 0;
    for (size_t k = 0; k < n; k++) s2 += (double)g[k] * g[k], mx = fabsf(g[k]) > mx ? fabsf(g[k]) : mx;
    for (size_t k = 0; k < n; k++) ties += fabsf(g[k]) == mx;
    for (size_t k = 0; k < n; k++) {
        if (norm == RP_NORM_LINF) d[k] = (float)((g[k] > 0) - (g[k] < 0));
        else if (norm == RP_NORM_L2) d[k] = (float)(g[k] / fmax(sqrt(s2), 1e-6));
        else d[k] = fabsf(g[k]) == mx ? (float)((g[k] > 0) - (g[k] < 0)) / ties : 0.0f;
    }
}

/* Gradients after one advreg step = erm gradients at x + multiplier x the gradients at the
 * neighbour, recomputed here from scratch (own forward/backward passes, own direction). */
static void test_advreg_gradient(void **state)
{
    (void)state;
    rp_norm norms[] = {RP_NORM_L2, RP_NORM_LINF, RP_NORM_L1};
    float steps[] = {2.0f, 0.05f, 0.5f};
    size_t BX = (size_t)B * S.X;
    float *gx = malloc(BX * sizeof(float)), *xa = malloc(BX * sizeof(float)), *dl = malloc((size_t)B * S.K * 4);
    for (int q = 0; q < 3; q++) {
        rp_objective_config c = rp_objective_defaults();
        c.kind = RP_OBJ_ADVREG, c.norm = norms[q], c.step = steps[q], c.multiplier = 0.7f;
        rp_model *a = new_model(), *b = new_model();
        rp_objective *o = new_objective(a, &c);
        rp_optim *opt = new_sgd(a, 1e-3f, 0.0f);
        rp_step_stats st;
        assert_int_equal(rp_train_step(o, opt, S.x, S.y, B, &st), RP_OK);
        /* b: input gradient of the mean CE, the neighbour, then the two parameter gradients */
        const float *z = rp_model_forward(b, S.x, B, true);
        rp_softmax_xent(z, S.y, B, S.K, 0.0f, dl, 1.0f, NULL);
        rp_model_backward(b, dl, gx, RP_GRAD_INPUT);
        float *d = malloc(S.X * sizeof(float));
        for (int i = 0; i < B; i++) {
            nsl_direction(norms[q], gx + i * S.X, d, S.X);
            for (size_t k = 0; k < S.X; k++) {
                float v = S.x[i * S.X + k] + steps[q] * d[k];
                xa[i * S.X + k] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            }
        }
        free(d);
        tu_assert_close("advreg neighbour", o->x_adv, xa, BX, 1e-5f, 1e-6f);
        int moved = 0;
        for (size_t k = 0; k < BX; k++) moved += xa[k] != S.x[k];
        assert_true(moved >= (norms[q] == RP_NORM_L1 ? B / 2 : 100 * B)); /* L1: one pixel each (unless clipped) */
        rp_model_zero_grad(b);
        z = rp_model_forward(b, xa, B, true);
        float adv = rp_softmax_xent(z, S.y, B, S.K, 0.0f, dl, c.multiplier, NULL);
        rp_model_backward(b, dl, NULL, RP_GRAD_PARAMS);
        z = rp_model_forward(b, S.x, B, true);
        float clean = rp_softmax_xent(z, S.y, B, S.K, 0.0f, dl, 1.0f, NULL);
        rp_model_backward(b, dl, NULL, RP_GRAD_PARAMS);
        assert_float_equal(st.clean_loss, clean, 1e-6);
        assert_float_equal(st.adv_loss, adv, 1e-5);
        assert_float_equal(st.loss, clean + c.multiplier * adv, 1e-5);
        assert_true(adv > clean); /* the neighbour is adversarial */
        for (int i = 0; i < a->g.n_params; i++)
            if (a->g.params[i].grad)
                tu_assert_close(a->g.params[i].name, a->g.params[i].grad, b->g.params[i].grad, a->g.params[i].numel,
                                1e-4f, 1e-7f);
        printf("# advreg %s step %g: clean CE %.4f, neighbour CE %.4f\n", norms[q] == RP_NORM_L2 ? "l2" :
               norms[q] == RP_NORM_LINF ? "infinity" : "l1", (double)steps[q], (double)clean, (double)adv);
        rp_optim_destroy(opt);
        rp_objective_destroy(o);
        rp_model_destroy(a), rp_model_destroy(b);
    }
    free(gx), free(xa), free(dl);
}

/* TRADES' joint pass over [x; x_adv] gives the gradients of CE(x) + beta KL(f(x) || f(x_adv))
 * that two separate passes give; beta = 0 gives erm's. */
static void test_trades_gradient(void **state)
{
    (void)state;
    float betas[] = {0.0f, 3.0f};
    float *dl = malloc((size_t)B * S.K * 4), *dp = malloc((size_t)B * S.K * 4), *dq = malloc((size_t)B * S.K * 4);
    float *p = malloc((size_t)B * S.K * 4);
    for (int q = 0; q < 2; q++) {
        rp_objective_config c = rp_objective_defaults();
        c.kind = RP_OBJ_TRADES, c.eps = 0.1f, c.steps = 3, c.beta = betas[q], c.norm = RP_NORM_LINF;
        rp_model *a = new_model(), *b = new_model();
        rp_objective *o = new_objective(a, &c);
        rp_optim *opt = new_sgd(a, 1e-3f, 0.0f);
        rp_step_stats st;
        assert_int_equal(rp_train_step(o, opt, S.x, S.y, B, &st), RP_OK);
        memcpy(p, rp_model_forward(b, S.x, B, true), (size_t)B * S.K * 4);
        const float *z = rp_model_forward(b, o->x_adv, B, true);
        float kl = rp_kl_div_logits(p, z, B, S.K, dp, dq, c.beta);
        rp_model_backward(b, dq, NULL, RP_GRAD_PARAMS);
        z = rp_model_forward(b, S.x, B, true);
        float clean = rp_softmax_xent(z, S.y, B, S.K, 0.0f, dl, 1.0f, NULL);
        for (int k = 0; k < B * S.K; k++) dl[k] += dp[k];
        rp_model_backward(b, dl, NULL, RP_GRAD_PARAMS);
        assert_float_equal(st.clean_loss, clean, 1e-5);
        assert_float_equal(st.adv_loss, kl, 1e-5);
        for (int i = 0; i < a->g.n_params; i++)
            if (a->g.params[i].grad)
                tu_assert_close(a->g.params[i].name, a->g.params[i].grad, b->g.params[i].grad, a->g.params[i].numel,
                                1e-4f, 1e-7f);
        printf("# trades beta %g: CE %.4f, KL %.5f\n", (double)c.beta, (double)clean, (double)kl);
        assert_true(kl > 0.0f);
        rp_optim_destroy(opt);
        rp_objective_destroy(o);
        rp_model_destroy(a), rp_model_destroy(b);
    }
    free(dl), free(dp), free(dq), free(p);
}

/* AugMix's consistency added to erm and to trades: the parameter gradients of one step equal
 * those recomputed view by view (the mlp has no BatchNorm, so a joint pass of [x; v1; v2] and
 * three separate passes agree): CE(x) (erm's, or trades' own loss) + lambda JS(x, v1, v2).
 * Without views the step refuses. */
static void test_consistency_gradient(void **state)
{
    (void)state;
    size_t BX = (size_t)B * S.X, BK = (size_t)B * S.K;
    float *views = malloc(2 * BX * sizeof(float)), *z3 = malloc(3 * BK * 4), *dz3 = calloc(3 * BK, 4);
    float *dl = malloc(BK * 4);
    memcpy(views, S.x + BX, BX * sizeof(float)); /* other images: far from x, a large JS */
    for (size_t k = 0; k < BX; k++) views[BX + k] = 0.5f * S.x[k];
    rp_objective_kind kinds[] = {RP_OBJ_ERM, RP_OBJ_TRADES};
    for (int q = 0; q < 2; q++) {
        rp_objective_config c = rp_objective_defaults();
        c.kind = kinds[q], c.consistency = 3.0f, c.eps = 0.1f, c.steps = 2, c.beta = 2.0f, c.norm = RP_NORM_LINF;
        rp_model *a = new_model(), *b = new_model();
        rp_objective *o = new_objective(a, &c);
        rp_optim *opt = new_sgd(a, 1e-3f, 0.0f);
        rp_step_stats st;
        assert_int_equal(rp_train_step(o, opt, S.x, S.y, B, &st), RP_ERR_ARG); /* no views */
        assert_int_equal(rp_train_step_views(o, opt, S.x, views, S.y, B, &st), RP_OK);
        /* b: the objective's own loss, then the JS term view by view */
        rp_model_zero_grad(b);
        float base = 0.0f;
        if (kinds[q] == RP_OBJ_ERM) {
            const float *z = rp_model_forward(b, S.x, B, true);
            base = rp_softmax_xent(z, S.y, B, S.K, 0.0f, dl, 1.0f, NULL);
            rp_model_backward(b, dl, NULL, RP_GRAD_PARAMS);
        } else { /* trades' part recomputed as test_trades_gradient does, at the x_adv the step used */
            float *p = malloc(BK * 4), *dp = malloc(BK * 4), *dq = malloc(BK * 4);
            memcpy(p, rp_model_forward(b, S.x, B, true), BK * 4);
            const float *z = rp_model_forward(b, o->x_adv, B, true);
            float kl = rp_kl_div_logits(p, z, B, S.K, dp, dq, c.beta);
            rp_model_backward(b, dq, NULL, RP_GRAD_PARAMS);
            z = rp_model_forward(b, S.x, B, true);
            base = rp_softmax_xent(z, S.y, B, S.K, 0.0f, dl, 1.0f, NULL) + c.beta * kl;
            for (size_t k = 0; k < BK; k++) dl[k] += dp[k];
            rp_model_backward(b, dl, NULL, RP_GRAD_PARAMS);
            free(p), free(dp), free(dq);
        }
        const float *src[3] = {S.x, views, views + BX};
        for (int v = 0; v < 3; v++) memcpy(z3 + v * BK, rp_model_forward(b, src[v], B, true), BK * 4);
        memset(dz3, 0, 3 * BK * 4);
        float js = rp_jsd_logits(z3, 3, B, S.K, dz3, c.consistency);
        for (int v = 0; v < 3; v++) {
            rp_model_forward(b, src[v], B, true);
            rp_model_backward(b, dz3 + v * BK, NULL, RP_GRAD_PARAMS);
        }
        assert_float_equal(st.consistency_loss, js, 1e-5);
        assert_float_equal(st.loss, base + c.consistency * js, 1e-4);
        assert_true(js > 1e-5f); /* an untrained model is nearly uniform: small but not zero */
        for (int i = 0; i < a->g.n_params; i++)
            if (a->g.params[i].grad)
                tu_assert_close(a->g.params[i].name, a->g.params[i].grad, b->g.params[i].grad, a->g.params[i].numel,
                                1e-4f, 1e-7f);
        printf("# %s + consistency 3: JS %.4f, loss %.4f\n", kinds[q] == RP_OBJ_ERM ? "erm" : "trades", (double)js,
               (double)st.loss);
        rp_optim_destroy(opt);
        rp_objective_destroy(o);
        rp_model_destroy(a), rp_model_destroy(b);
    }
    free(views), free(z3), free(dz3), free(dl);
}

/* Every objective lowers its own loss over 40 steps; crafted points stay in their balls
 * (checked in train()); PGD's inner maximisation raises the loss above the clean one. */
static void test_each_objective_trains(void **state)
{
    (void)state;
    rp_objective_kind kinds[] = {RP_OBJ_ERM, RP_OBJ_ADVREG, RP_OBJ_FGSM, RP_OBJ_FAST, RP_OBJ_PGD, RP_OBJ_TRADES};
    const char *names[] = {"erm", "advreg", "fgsm", "fast", "pgd", "trades"};
    for (int q = 0; q < 6; q++) {
        rp_objective_config c = rp_objective_defaults();
        c.kind = kinds[q], c.seed = 5;
        if (kinds[q] != RP_OBJ_ADVREG) c.norm = RP_NORM_LINF, c.eps = 0.1f;
        if (kinds[q] == RP_OBJ_PGD || kinds[q] == RP_OBJ_TRADES) c.steps = 3, c.random_init = true;
        if (kinds[q] == RP_OBJ_TRADES) c.beta = 1.0f;
        rp_model *m = new_model();
        float first, last;
        train(m, &c, 40, &first, &last);
        printf("# %-7s loss %.4f -> %.4f over 40 steps\n", names[q], (double)first, (double)last);
        assert_true(last < 0.8f * first);
        rp_model_destroy(m);
    }
    rp_objective_config c = rp_objective_defaults();
    c.kind = RP_OBJ_PGD, c.norm = RP_NORM_LINF, c.eps = 0.1f, c.steps = 5;
    rp_model *m = new_model();
    train(m, &(rp_objective_config){.kind = RP_OBJ_ERM}, 20, NULL, NULL);
    rp_objective *o = new_objective(m, &c);
    rp_optim *opt = new_sgd(m, 1e-3f, 0.0f);
    rp_step_stats st;
    assert_int_equal(rp_train_step(o, opt, S.x, S.y, B, &st), RP_OK);
    printf("# pgd objective: clean CE %.4f (acc %d/%d), PGD-5 CE %.4f (acc %d/%d)\n", (double)st.clean_loss, st.correct,
           B, (double)st.adv_loss, st.adv_correct, B);
    assert_true(st.adv_loss > st.clean_loss + 0.5f);
    assert_true(st.adv_correct < st.correct);
    rp_optim_destroy(opt);
    rp_objective_destroy(o);
    rp_model_destroy(m);
}

/* NSL's directions and the exact L1-ball projection. */
static void test_l1_machinery(void **state)
{
    (void)state;
    float g[5] = {1.0f, -3.0f, 3.0f, 0.0f, NAN}, d[5];
    rp_obj_direction(RP_NORM_L1, g, d, 5);
    float want[5] = {0.0f, -0.5f, 0.5f, 0.0f, 0.0f};
    tu_assert_close("l1 direction", d, want, 5, 0.0f, 0.0f);
    float tiny[2] = {3e-8f, 4e-8f};
    rp_obj_direction(RP_NORM_L2, tiny, d, 2);
    assert_float_equal(d[0], 3e-8 / 1e-6, 1e-6); /* NSL's 1e-6 floor on the norm */
    enum { N = 200 };
    float x[N], v[N], v0[N], scratch[N];
    tu_fill_uniform(x, N, 0.3f, 0.7f, 1);
    tu_fill_uniform(v0, N, -0.2f, 0.2f, 2);
    for (int k = 0; k < N; k++) v0[k] += x[k];
    float eps = 2.0f;
    memcpy(v, v0, sizeof v);
    rp_obj_project(v, x, N, RP_NORM_L1, eps, 0.0f, 1.0f, scratch);
    double n1 = 0.0, theta = -1.0;
    for (int k = 0; k < N; k++) n1 += fabs((double)v[k] - x[k]);
    assert_float_equal(n1, eps, 1e-4);
    for (int k = 0; k < N; k++) { /* soft-thresholding by one theta */
        double a = fabs((double)v0[k] - x[k]), b = fabs((double)v[k] - x[k]);
        if (b > 0) {
            if (theta < 0) theta = a - b;
            assert_float_equal(a - b, theta, 1e-5);
            assert_true(((double)v[k] - x[k]) * ((double)v0[k] - x[k]) > 0);
        }
    }
    for (int k = 0; k < N; k++)
        if (v[k] == x[k]) assert_true(fabs((double)v0[k] - x[k]) <= theta + 1e-6);
    assert_true(theta > 0);
    memcpy(v, v0, sizeof v); /* inside the ball already: unchanged */
    rp_obj_project(v, x, N, RP_NORM_L1, 100.0f, 0.0f, 1.0f, scratch);
    assert_memory_equal(v, v0, sizeof v);
}

static void test_bad_configs(void **state)
{
    (void)state;
    rp_model *m = new_model();
    rp_objective *o = NULL;
    rp_objective_config c = rp_objective_defaults();
    c.kind = RP_OBJ_PGD; /* eps 0 */
    assert_int_equal(rp_objective_create(S.ctx, m, &c, B, &o), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(S.ctx), "eps"));
    c.eps = 0.1f, c.norm = RP_NORM_L1;
    assert_int_equal(rp_objective_create(S.ctx, m, &c, B, &o), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(S.ctx), "norm"));
    c = rp_objective_defaults();
    c.kind = RP_OBJ_ADVREG, c.random_init = true;
    assert_int_equal(rp_objective_create(S.ctx, m, &c, B, &o), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(S.ctx), "random init"));
    c.random_init = false, c.multiplier = -1.0f;
    assert_int_equal(rp_objective_create(S.ctx, m, &c, B, &o), RP_ERR_ARG);
    c = rp_objective_defaults();
    c.kind = RP_OBJ_TRADES, c.eps = 0.1f, c.beta = -1.0f;
    assert_int_equal(rp_objective_create(S.ctx, m, &c, B, &o), RP_ERR_ARG);
    c = rp_objective_defaults();
    c.kind = RP_OBJ_FGSM, c.eps = 0.1f, c.alpha = 1.5f;
    assert_int_equal(rp_objective_create(S.ctx, m, &c, B, &o), RP_ERR_ARG);
    c.alpha = 0.5f, c.clip_min = 1.0f, c.clip_max = 0.0f;
    assert_int_equal(rp_objective_create(S.ctx, m, &c, B, &o), RP_ERR_ARG);
    c = rp_objective_defaults();
    c.kind = RP_OBJ_PGD, c.eps = 0.1f, c.steps = 4, c.step = 0.0f;
    assert_int_equal(rp_objective_create(S.ctx, m, &c, B, &o), RP_OK);
    assert_float_equal(o->cfg.step, 2.5f * 0.1f / 4, 1e-7); /* the default step */
    rp_objective_destroy(o);
    rp_model_destroy(m);
}

/* The adversarial objectives' random starts are keyed by (seed, epoch, sample): with a
 * learning rate of 0 (the model does not move), 8 samples in one step and the same samples
 * in two steps of 4 leave the same x_adv bit for bit (fast: random start then one signed
 * step; trades: its Gaussian start then PGD), and another epoch starts elsewhere. */
static void test_random_starts_keyed(void **state)
{
    (void)state;
    enum { Q = 8 };
    rp_objective_config fast = rp_objective_defaults(), tr = fast;
    fast.kind = RP_OBJ_FAST, fast.eps = 0.1f, fast.norm = RP_NORM_LINF, fast.random_init = true, fast.seed = 4;
    tr.kind = RP_OBJ_TRADES, tr.eps = 0.1f, tr.norm = RP_NORM_LINF, tr.steps = 2, tr.seed = 4;
    const rp_objective_config *cfgs[] = {&fast, &tr};
    int idx[Q] = {17, 3, 250, 9, 41, 600, 5, 77};
    for (int q = 0; q < 2; q++) {
        rp_model *m = new_model();
        rp_objective *one = new_objective(m, cfgs[q]), *two = new_objective(m, cfgs[q]);
        rp_optim *opt = new_sgd(m, 0.0f, 0.0f);
        float *x = malloc(Q * S.X * sizeof(float)), *whole = malloc(Q * S.X * sizeof(float));
        int32_t y[Q];
        for (int i = 0; i < Q; i++) {
            memcpy(x + (size_t)i * S.X, S.x + (size_t)idx[i] * S.X, S.X * sizeof(float));
            y[i] = S.y[idx[i]];
        }
        rp_objective_set_examples(one, 3, idx);
        assert_int_equal(rp_train_step(one, opt, x, y, Q, NULL), RP_OK);
        memcpy(whole, one->x_adv, Q * S.X * sizeof(float));
        for (int h = 0; h < 2; h++) {
            rp_objective_set_examples(two, 3, idx + h * 4);
            assert_int_equal(rp_train_step(two, opt, x + (size_t)h * 4 * S.X, y + h * 4, 4, NULL), RP_OK);
            if (memcmp(two->x_adv, whole + (size_t)h * 4 * S.X, 4 * S.X * sizeof(float)))
                fail_msg("objective %d: half %d of the batch starts elsewhere", (int)cfgs[q]->kind, h);
        }
        rp_objective_set_examples(one, 4, idx);
        assert_int_equal(rp_train_step(one, opt, x, y, Q, NULL), RP_OK);
        assert_memory_not_equal(one->x_adv, whole, Q * S.X * sizeof(float));
        free(x), free(whole);
        rp_optim_destroy(opt);
        rp_objective_destroy(one), rp_objective_destroy(two);
        rp_model_destroy(m);
    }
}

/* SAM around erm and trades: one step equals the test's own SAM — the objective's gradient g
 * at w, w' = w + rho g / ||g||, the gradient g' at w' on the same examples with the same
 * random draws (keyed), then w - lr g' — computed with plain steps of learning rate 0; rho 0 is
 * the plain step bit for bit; a bad radius is refused. */
static void test_sam_step(void **state)
{
    (void)state;
    enum { Q = 16 };
    const float lr = 0.1f, rho = 0.5f;
    rp_objective_config erm = rp_objective_defaults(), tr = erm;
    tr.kind = RP_OBJ_TRADES, tr.eps = 0.1f, tr.norm = RP_NORM_LINF, tr.steps = 2, tr.seed = 4;
    const rp_objective_config *cfgs[] = {&erm, &tr};
    int idx[Q];
    for (int i = 0; i < Q; i++) idx[i] = 7 * i + 1;
    for (int q = 0; q < 2; q++) {
        rp_model *a = new_model(), *b = new_model();
        rp_objective *oa = new_objective(a, cfgs[q]), *ob = new_objective(b, cfgs[q]);
        assert_int_equal(rp_objective_set_sam(oa, rho), RP_OK);
        rp_optim *sa = new_sgd(a, lr, 0.0f), *zero = new_sgd(b, 1e-30f, 0.0f);
        rp_objective_set_examples(oa, 2, idx);
        rp_step_stats st;
        assert_int_equal(rp_train_step(oa, sa, S.x, S.y, Q, &st), RP_OK);
        /* the test's SAM on b: the gradient at w (a step of lr 1e-30 leaves w as it is) */
        rp_step_stats st0;
        rp_objective_set_examples(ob, 2, idx);
        assert_int_equal(rp_train_step(ob, zero, S.x, S.y, Q, &st0), RP_OK);
        assert_true(st.loss == st0.loss); /* the statistics are those at w */
        double n2 = 0;
        for (int i = 0; i < b->g.n_params; i++)
            for (size_t k = 0; k < b->g.params[i].numel; k++) n2 += (double)b->g.params[i].grad[k] * b->g.params[i].grad[k];
        assert_true(n2 > 0);
        size_t n = rp_model_num_params(b), at = 0;
        float *w = malloc(n * sizeof *w), *g0 = malloc(n * sizeof *g0);
        double moved = 0;
        for (int i = 0; i < b->g.n_params; i++) {
            rp_param *p = &b->g.params[i];
            for (size_t k = 0; k < p->numel; k++, at++) {
                w[at] = p->data[k], g0[at] = p->grad[k];
                p->data[k] += (float)(rho / sqrt(n2)) * p->grad[k];
            }
        }
        rp_objective_set_examples(ob, 2, idx);
        assert_int_equal(rp_train_step(ob, zero, S.x, S.y, Q, &st0), RP_OK);
        at = 0;
        for (int i = 0; i < b->g.n_params; i++) {
            rp_param *p = &b->g.params[i], *pa = &a->g.params[i];
            for (size_t k = 0; k < p->numel; k++, at++) {
                float want = w[at] - lr * p->grad[k];
                if (!(fabsf(pa->data[k] - want) <= 1e-6f + 1e-5f * fabsf(want)))
                    fail_msg("sam, objective %d: %s[%zu] = %.9g, the test's SAM gives %.9g", (int)cfgs[q]->kind,
                             p->name, k, (double)pa->data[k], (double)want);
                moved = fmax(moved, fabs((double)pa->data[k] - (w[at] - lr * g0[at])));
            }
        }
        assert_true(moved > 1e-3); /* SAM's step is not the plain one */
        free(w), free(g0);
        rp_optim_destroy(sa), rp_optim_destroy(zero);
        rp_objective_destroy(oa), rp_objective_destroy(ob);
        rp_model_destroy(a), rp_model_destroy(b);
    }
    /* rho 0: the plain step, bit for bit */
    rp_model *a = new_model(), *b = new_model();
    rp_objective *oa = new_objective(a, &erm), *ob = new_objective(b, &erm);
    assert_int_equal(rp_objective_set_sam(oa, 0.0f), RP_OK);
    rp_optim *pa = new_sgd(a, lr, 0.9f), *pb = new_sgd(b, lr, 0.9f);
    for (int s = 0; s < 3; s++) {
        assert_int_equal(rp_train_step(oa, pa, S.x + (size_t)s * B * S.X, S.y + s * B, B, NULL), RP_OK);
        assert_int_equal(rp_train_step(ob, pb, S.x + (size_t)s * B * S.X, S.y + s * B, B, NULL), RP_OK);
    }
    assert_params_equal(a, b, "sam 0 vs plain");
    assert_int_equal(rp_objective_set_sam(oa, -0.1f), RP_ERR_ARG);
    assert_int_equal(rp_objective_set_sam(oa, NAN), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(S.ctx), "sam"));
    rp_optim_destroy(pa), rp_optim_destroy(pb);
    rp_objective_destroy(oa), rp_objective_destroy(ob);
    rp_model_destroy(a), rp_model_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_l1_machinery),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_special_cases_equal_erm),
        cmocka_unit_test(test_advreg_gradient),
        cmocka_unit_test(test_trades_gradient),
        cmocka_unit_test(test_consistency_gradient),
        cmocka_unit_test(test_each_objective_trains),
        cmocka_unit_test(test_random_starts_keyed),
        cmocka_unit_test(test_sam_step),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
