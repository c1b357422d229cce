/* Optimizers against PyTorch 1.13 (tests/reference/optim.py): the same initial values and
 * gradient sequence are replayed through rp_optim, with the same steps frozen, and every
 * step's lr and parameters are compared with torch.optim's, then the final state
 * (momentum buffer / exp_avg / exp_avg_sq, per-parameter step counts).
 * Tolerances: lr rtol 1e-6 (PyTorch's recursive schedulers vs our closed forms);
 * parameters and state rtol 1e-5, atol 1e-7 (float rounding order; values are O(1),
 * atol covers elements that pass near 0). Frozen steps must leave b bit-identical.
 * Weight averaging (the _ema cases): after every step the averages of w, b and the buffer rm
 * (set to the reference's value before each step) against AveragedModel's, same tolerances,
 * read through rp_optim_swap_average, which must give the weights back unchanged. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "optim/optim.h"
#include "optim_fixture.h"
#include "testutil.h"

#define RTOL 1e-5f
#define ATOL 1e-7f

enum { W, B, RM, NW = 12, NB = 5, NRM = 3 };
/* w (3, 4) and b (5,) as in the reference, plus a buffer that must stay untouched. */
static const fx_tensor TENSORS[] = {{"w", NW, true}, {"b", NB, true}, {"rm", NRM, false}};

static const char *meta(const rp_st_file *f, const char *key, const char *dflt)
{
    const char *v = rp_st_meta(f, key);
    return v ? v : dflt;
}

static float meta_f(const rp_st_file *f, const char *key, const char *dflt)
{
    return strtof(meta(f, key, dflt), NULL);
}

static int meta_i(const rp_st_file *f, const char *key, const char *dflt)
{
    return atoi(meta(f, key, dflt));
}

/* rampart's configuration from the metadata optim.py wrote. */
static rp_optim_config config_of(const rp_st_file *f)
{
    rp_optim_kind kind = strcmp(meta(f, "kind", "?"), "adamw") == 0 ? RP_ADAMW : RP_SGD;
    rp_optim_config c = rp_optim_defaults(kind);
    c.lr = meta_f(f, "lr", "nan");
    c.weight_decay = meta_f(f, "weight_decay", "0");
    c.momentum = meta_f(f, "momentum", "0");
    c.nesterov = meta_i(f, "nesterov", "0") != 0;
    c.beta1 = meta_f(f, "beta1", "0.9");
    c.beta2 = meta_f(f, "beta2", "0.999");
    c.eps = meta_f(f, "eps", "1e-8");
    c.warmup_steps = meta_i(f, "warmup_steps", "0");
    const char *sched = meta(f, "schedule", "constant");
    c.schedule = strcmp(sched, "step") == 0     ? RP_SCHED_STEP
                 : strcmp(sched, "cosine") == 0 ? RP_SCHED_COSINE
                                                : RP_SCHED_CONSTANT;
    c.step_size = meta_i(f, "step_size", "0");
    c.gamma = meta_f(f, "gamma", "0.1");
    c.total_steps = meta_i(f, "total_steps", "0");
    c.ema_decay = meta_f(f, "ema_decay", "0");
    return c;
}

static float *read(rp_ctx *ctx, const rp_st_file *f, const char *name, size_t n)
{
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    if (rp_st_read_f32(ctx, f, name, v, n) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    return v;
}

static void run_case(const char *name)
{
    rp_ctx *ctx = rp_ctx_create(1);
    char path[512], what[128];
    snprintf(what, sizeof what, "optim_%s.safetensors", name);
    rp_st_file *f = NULL;
    if (rp_st_open(ctx, tu_ref_path(path, sizeof path, what), &f) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    const int T = meta_i(f, "steps", "0");
    assert_true(T >= 1);
    rp_optim_config cfg = config_of(f);

    rp_model *m = fx_model(ctx, TENSORS, 3);
    rp_param *w = &m->g.params[W], *b = &m->g.params[B], *rm = &m->g.params[RM];
    const float rm0[NRM] = {1.5f, -2.5f, 3.5f};
    memcpy(rm->data, rm0, sizeof rm0);
    assert_int_equal(rp_st_read_f32(ctx, f, "init.w", w->data, NW), RP_OK);
    assert_int_equal(rp_st_read_f32(ctx, f, "init.b", b->data, NB), RP_OK);
    float *gw = read(ctx, f, "grad.w", (size_t)T * NW), *gb = read(ctx, f, "grad.b", (size_t)T * NB);
    float *frozen = read(ctx, f, "frozen", (size_t)T * 2), *lr = read(ctx, f, "lr", (size_t)T);
    float *tw = read(ctx, f, "traj.w", (size_t)T * NW), *tb = read(ctx, f, "traj.b", (size_t)T * NB);
    const bool ema = cfg.ema_decay > 0.0f;
    float *bufs = NULL, *avg[3] = {NULL, NULL, NULL};
    if (ema) {
        bufs = read(ctx, f, "buf.rm", (size_t)T * NRM);
        for (int i = W; i <= RM; i++) {
            snprintf(what, sizeof what, "avg.%s", m->g.params[i].name);
            avg[i] = read(ctx, f, what, (size_t)T * m->g.params[i].numel);
        }
    }

    rp_optim *o = NULL;
    if (rp_optim_create(ctx, m, &cfg, &o) != RP_OK) fail_msg("%s: %s", name, rp_ctx_error(ctx));
    for (int t = 0; t < T; t++) {
        /* Gradients are present even on a frozen parameter: freezing alone must stop it. */
        memcpy(w->grad, gw + (size_t)t * NW, NW * sizeof(float));
        memcpy(b->grad, gb + (size_t)t * NB, NB * sizeof(float));
        w->frozen = frozen[t * 2 + 0] != 0.0f;
        b->frozen = frozen[t * 2 + 1] != 0.0f;
        float got_lr = rp_optim_lr(o);
        if (!(fabsf(got_lr - lr[t]) <= 1e-6f * lr[t]))
            fail_msg("%s: lr at step %d is %.9g, PyTorch %.9g", name, t, (double)got_lr, (double)lr[t]);
        float keep_b[NB];
        memcpy(keep_b, b->data, sizeof keep_b);
        if (ema) memcpy(rm->data, bufs + (size_t)t * NRM, NRM * sizeof(float));
        rp_optim_step(o);
        if (b->frozen) assert_memory_equal(b->data, keep_b, sizeof keep_b);
        snprintf(what, sizeof what, "%s: w after step %d", name, t);
        tu_assert_close(what, w->data, tw + (size_t)t * NW, NW, RTOL, ATOL);
        snprintf(what, sizeof what, "%s: b after step %d", name, t);
        tu_assert_close(what, b->data, tb + (size_t)t * NB, NB, RTOL, ATOL);
        if (!ema) continue;
        float keep_w[NW], keep_rm[NRM];
        memcpy(keep_w, w->data, sizeof keep_w);
        memcpy(keep_b, b->data, sizeof keep_b);
        memcpy(keep_rm, rm->data, sizeof keep_rm);
        assert_int_equal(rp_optim_swap_average(o), RP_OK);
        for (int i = W; i <= RM; i++) {
            size_t n = m->g.params[i].numel;
            snprintf(what, sizeof what, "%s: average of %s after step %d", name, m->g.params[i].name, t);
            tu_assert_close(what, m->g.params[i].data, avg[i] + (size_t)t * n, n, RTOL, ATOL);
        }
        assert_int_equal(rp_optim_swap_average(o), RP_OK);
        assert_memory_equal(w->data, keep_w, sizeof keep_w);
        assert_memory_equal(b->data, keep_b, sizeof keep_b);
        assert_memory_equal(rm->data, keep_rm, sizeof keep_rm);
    }
    if (!ema) assert_memory_equal(rm->data, rm0, sizeof rm0);

    /* Final state, under PyTorch's state keys. */
    for (int s = 0; s < rp_optim_num_slots(o); s++) {
        for (int i = W; i <= B; i++) {
            size_t n = m->g.params[i].numel;
            char key[96];
            snprintf(key, sizeof key, "state.%s.%s", rp_optim_slot_name(o, s), m->g.params[i].name);
            float *want = read(ctx, f, key, n);
            snprintf(what, sizeof what, "%s: %s", name, key);
            tu_assert_close(what, rp_optim_slot(o, s, i), want, n, RTOL, ATOL);
            free(want);
        }
    }
    if (rp_st_find(f, "param_steps")) {
        float ps[2];
        assert_int_equal(rp_st_read_f32(ctx, f, "param_steps", ps, 2), RP_OK);
        assert_int_equal(rp_optim_param_steps(o, W), (int64_t)ps[0]);
        assert_int_equal(rp_optim_param_steps(o, B), (int64_t)ps[1]);
    }
    assert_int_equal(rp_optim_steps(o), T);

    free(gw), free(gb), free(frozen), free(lr), free(tw), free(tb), free(bufs);
    for (int i = W; i <= RM; i++) free(avg[i]);
    rp_optim_destroy(o);
    fx_model_free(m);
    rp_st_close(f);
    rp_ctx_destroy(ctx);
}

static void test_sgd_nesterov(void **state)
{
    (void)state;
    run_case("sgd_nesterov");
}

static void test_sgd_momentum_warmup_step(void **state)
{
    (void)state;
    run_case("sgd_momentum_warmup_step");
}

static void test_sgd_plain(void **state)
{
    (void)state;
    run_case("sgd_plain");
}

static void test_adamw(void **state)
{
    (void)state;
    run_case("adamw");
}

static void test_adamw_warmup_cosine(void **state)
{
    (void)state;
    run_case("adamw_warmup_cosine");
}

static void test_sgd_nesterov_ema(void **state)
{
    (void)state;
    run_case("sgd_nesterov_ema");
}

static void test_adamw_ema(void **state)
{
    (void)state;
    run_case("adamw_ema");
}

/* Without weight averaging there is nothing to swap in: an error, the weights untouched. */
static void test_no_average(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model *m = fx_model(ctx, TENSORS, 3);
    m->g.params[W].data[0] = 4.0f;
    rp_optim_config cfg = rp_optim_defaults(RP_SGD);
    rp_optim *o = NULL;
    assert_int_equal(rp_optim_create(ctx, m, &cfg, &o), RP_OK);
    assert_int_equal(rp_optim_swap_average(o), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(ctx), "no weight average"));
    assert_null(rp_optim_average(o, W));
    assert_true(m->g.params[W].data[0] == 4.0f);
    rp_optim_destroy(o);
    cfg.ema_decay = 1.0f; /* the average would never move */
    assert_int_equal(rp_optim_create(ctx, m, &cfg, &o), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(ctx), "weight-averaging decay 1 outside [0, 1)"));
    cfg.ema_decay = -0.5f;
    assert_int_equal(rp_optim_create(ctx, m, &cfg, &o), RP_ERR_ARG);
    /* before the first step the average is the weights at creation */
    cfg.ema_decay = 0.5f;
    assert_int_equal(rp_optim_create(ctx, m, &cfg, &o), RP_OK);
    m->g.params[W].data[0] = 7.0f;
    assert_int_equal(rp_optim_swap_average(o), RP_OK);
    assert_true(m->g.params[W].data[0] == 4.0f);
    assert_true(rp_optim_average(o, W)[0] == 7.0f);
    rp_optim_destroy(o);
    fx_model_free(m);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_nesterov),
        cmocka_unit_test(test_sgd_momentum_warmup_step),
        cmocka_unit_test(test_sgd_plain),
        cmocka_unit_test(test_adamw),
        cmocka_unit_test(test_adamw_warmup_cosine),
        cmocka_unit_test(test_sgd_nesterov_ema),
        cmocka_unit_test(test_adamw_ema),
        cmocka_unit_test(test_no_average),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
