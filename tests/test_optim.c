/* Optimizers and schedules against their closed forms, on a model of bare tensors with
 * gradients set by hand. Expected values are computed in double from the formulas of
 * PyTorch 1.13's SGD / AdamW documentation; the float implementation must agree to
 * rtol 1e-6, atol 1e-7 (a few float roundings per step). Frozen parameters and buffers
 * must not change at all (exact). */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "optim/optim.h"
#include "optim_fixture.h"
#include "testutil.h"

#define RTOL 1e-6f
#define ATOL 1e-7f
#define PI 3.14159265358979323846

/* p: (3,) trainable; b: (2,) trainable; rm: (2,) buffer. */
static const fx_tensor TENSORS[] = {{"p", 3, true}, {"b", 2, true}, {"rm", 2, false}};
enum { P, B, RM };

static const float P0[3] = {1.0f, -2.0f, 0.5f};
static const float B0[2] = {0.25f, -0.75f};
static const float RM0[2] = {3.0f, 4.0f};
static const float G[4][3] = {{0.1f, 0.2f, -0.3f}, {-0.4f, 0.05f, 0.6f}, {0.3f, -0.2f, 0.1f}, {0.7f, 0.1f, -0.5f}};

typedef struct fx {
    rp_ctx *ctx;
    rp_model *m;
    rp_optim *o;
} fx;

static fx setup(const rp_optim_config *cfg)
{
    fx f = {.ctx = rp_ctx_create(1)};
    f.m = fx_model(f.ctx, TENSORS, 3);
    memcpy(f.m->g.params[P].data, P0, sizeof P0);
    memcpy(f.m->g.params[B].data, B0, sizeof B0);
    memcpy(f.m->g.params[RM].data, RM0, sizeof RM0);
    assert_int_equal(rp_optim_create(f.ctx, f.m, cfg, &f.o), RP_OK);
    return f;
}

static void teardown(fx *f)
{
    rp_optim_destroy(f->o);
    fx_model_free(f->m);
    rp_ctx_destroy(f->ctx);
}

/* Gradient of step t: p gets G[t], b gets the first two entries of G[t] negated. */
static void set_grads(fx *f, int t)
{
    memcpy(f->m->g.params[P].grad, G[t], sizeof G[t]);
    f->m->g.params[B].grad[0] = -G[t][0];
    f->m->g.params[B].grad[1] = -G[t][1];
}

static void step(fx *f, int t)
{
    set_grads(f, t);
    rp_optim_step(f->o);
}

static void check(const char *what, const float *got, const double *want, int n)
{
    float w[8];
    for (int i = 0; i < n; i++) w[i] = (float)want[i];
    tu_assert_close(what, got, w, (size_t)n, RTOL, ATOL);
}

/* ---- SGD ----------------------------------------------------------------------------- */

/* PyTorch's SGD on p over `steps` steps of G, in double. */
static void sgd_expected(double *p, int steps, double lr, double wd, double mom, bool nesterov)
{
    double buf[3];
    for (int i = 0; i < 3; i++) p[i] = P0[i];
    for (int t = 0; t < steps; t++) {
        for (int i = 0; i < 3; i++) {
            double d = G[t][i] + wd * p[i];
            if (mom > 0) {
                buf[i] = t == 0 ? d : mom * buf[i] + d;
                d = nesterov ? d + mom * buf[i] : buf[i];
            }
            p[i] -= lr * d;
        }
    }
}

static void run_sgd_case(float lr, float wd, float mom, bool nesterov)
{
    rp_optim_config c = rp_optim_defaults(RP_SGD);
    c.lr = lr;
    c.weight_decay = wd;
    c.momentum = mom;
    c.nesterov = nesterov;
    fx f = setup(&c);
    assert_int_equal(rp_optim_num_slots(f.o), mom > 0 ? 1 : 0);
    for (int t = 0; t < 4; t++) {
        step(&f, t);
        double want[3];
        sgd_expected(want, t + 1, lr, wd, mom, nesterov);
        check("sgd p", f.m->g.params[P].data, want, 3);
    }
    assert_int_equal(rp_optim_steps(f.o), 4);
    assert_int_equal(rp_optim_param_steps(f.o, P), 4);
    teardown(&f);
}

static void test_sgd_plain(void **state)
{
    (void)state;
    /* one step by hand: p - lr * g */
    rp_optim_config c = rp_optim_defaults(RP_SGD);
    c.lr = 0.5f;
    fx f = setup(&c);
    step(&f, 0);
    const float want[3] = {1.0f - 0.5f * 0.1f, -2.0f - 0.5f * 0.2f, 0.5f + 0.5f * 0.3f};
    tu_assert_close("sgd one step", f.m->g.params[P].data, want, 3, RTOL, ATOL);
    teardown(&f);
    run_sgd_case(0.1f, 0.0f, 0.0f, false);
}

static void test_sgd_weight_decay(void **state)
{
    (void)state;
    run_sgd_case(0.1f, 0.05f, 0.0f, false);
}

static void test_sgd_momentum(void **state)
{
    (void)state;
    run_sgd_case(0.1f, 0.0f, 0.9f, false);
    run_sgd_case(0.05f, 5e-4f, 0.9f, false);
}

static void test_sgd_nesterov(void **state)
{
    (void)state;
    run_sgd_case(0.1f, 0.0f, 0.9f, true);
    run_sgd_case(0.05f, 5e-4f, 0.8f, true);
}

/* The momentum buffer after two steps is exactly the recursion's value. */
static void test_sgd_momentum_buffer(void **state)
{
    (void)state;
    rp_optim_config c = rp_optim_defaults(RP_SGD);
    c.lr = 0.1f;
    c.momentum = 0.9f;
    fx f = setup(&c);
    assert_string_equal(rp_optim_slot_name(f.o, 0), "momentum_buffer");
    step(&f, 0);
    step(&f, 1);
    double want[3];
    for (int i = 0; i < 3; i++) want[i] = 0.9 * G[0][i] + G[1][i];
    check("sgd momentum buffer", rp_optim_slot(f.o, 0, P), want, 3);
    assert_null(rp_optim_slot(f.o, 0, RM));
    teardown(&f);
}

/* ---- AdamW ------------------------------------------------------------------------- */

static void adamw_expected(double *p, int steps, double lr, double wd, double b1, double b2, double eps)
{
    double m[3] = {0}, v[3] = {0};
    for (int i = 0; i < 3; i++) p[i] = P0[i];
    for (int t = 1; t <= steps; t++) {
        for (int i = 0; i < 3; i++) {
            double g = G[t - 1][i];
            p[i] *= 1.0 - lr * wd;
            m[i] = b1 * m[i] + (1 - b1) * g;
            v[i] = b2 * v[i] + (1 - b2) * g * g;
            double mhat = m[i] / (1 - pow(b1, t)), vhat = v[i] / (1 - pow(b2, t));
            p[i] -= lr * mhat / (sqrt(vhat) + eps);
        }
    }
}

static void test_adamw(void **state)
{
    (void)state;
    rp_optim_config c = rp_optim_defaults(RP_ADAMW);
    assert_true(c.beta1 == 0.9f && c.beta2 == 0.999f && c.eps == 1e-8f && c.weight_decay == 0.01f);
    c.lr = 0.01f;
    c.weight_decay = 0.1f;
    fx f = setup(&c);
    assert_int_equal(rp_optim_num_slots(f.o), 2);
    assert_string_equal(rp_optim_slot_name(f.o, 0), "exp_avg");
    assert_string_equal(rp_optim_slot_name(f.o, 1), "exp_avg_sq");
    /* The first AdamW step moves every coordinate by about lr * sign(g). */
    step(&f, 0);
    for (int i = 0; i < 3; i++) {
        double moved = P0[i] * (1.0 - 0.01 * 0.1) - f.m->g.params[P].data[i];
        assert_true(fabs(moved - 0.01 * (G[0][i] > 0 ? 1 : -1)) < 1e-6);
    }
    for (int t = 1; t < 4; t++) {
        step(&f, t);
        double want[3];
        adamw_expected(want, t + 1, c.lr, c.weight_decay, c.beta1, c.beta2, c.eps);
        check("adamw p", f.m->g.params[P].data, want, 3);
    }
    /* The moments after 4 steps. */
    double m1[3], m2[3];
    for (int i = 0; i < 3; i++) {
        m1[i] = m2[i] = 0;
        for (int t = 0; t < 4; t++) {
            m1[i] = 0.9 * m1[i] + 0.1 * G[t][i];
            m2[i] = 0.999 * m2[i] + 0.001 * G[t][i] * G[t][i];
        }
    }
    check("adamw exp_avg", rp_optim_slot(f.o, 0, P), m1, 3);
    check("adamw exp_avg_sq", rp_optim_slot(f.o, 1, P), m2, 3);
    teardown(&f);
}

/* ---- schedules ------------------------------------------------------------------- */

static void expect_lrs(const rp_optim_config *c, const double *want, int n)
{
    for (int t = 0; t < n; t++) {
        float got = rp_optim_lr_at(c, t);
        if (!(fabs(got - want[t]) <= 1e-7 + 1e-6 * fabs(want[t])))
            fail_msg("schedule %d warmup %d: lr at step %d is %.9g, expected %.9g", (int)c->schedule,
                     c->warmup_steps, t, (double)got, want[t]);
    }
}

static void test_schedules(void **state)
{
    (void)state;
    rp_optim_config c = rp_optim_defaults(RP_SGD);
    c.lr = 0.8f;
    const double constant[] = {0.8, 0.8, 0.8, 0.8};
    expect_lrs(&c, constant, 4);

    c.schedule = RP_SCHED_STEP;
    c.step_size = 3;
    c.gamma = 0.5f;
    const double stepped[] = {0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2, 0.2, 0.2, 0.1};
    expect_lrs(&c, stepped, 10);

    c.schedule = RP_SCHED_COSINE;
    c.total_steps = 4;
    double cosine[7];
    for (int t = 0; t < 7; t++) cosine[t] = 0.8 * (1 + cos(PI * t / 4)) / 2; /* periodic like PyTorch */
    expect_lrs(&c, cosine, 7);
    assert_true(rp_optim_lr_at(&c, 4) < 1e-7f);

    /* Warm-up multiplies by (t + 1) / warmup_steps on top of the schedule at t. */
    c.schedule = RP_SCHED_CONSTANT;
    c.warmup_steps = 4;
    const double warm[] = {0.2, 0.4, 0.6, 0.8, 0.8, 0.8};
    expect_lrs(&c, warm, 6);
    c.schedule = RP_SCHED_COSINE;
    c.total_steps = 10;
    c.warmup_steps = 3;
    double warm_cos[6];
    for (int t = 0; t < 6; t++) warm_cos[t] = 0.8 * (1 + cos(PI * t / 10)) / 2 * (t < 3 ? (t + 1) / 3.0 : 1.0);
    expect_lrs(&c, warm_cos, 6);
}

/* rp_optim_lr is the lr of the next step, and the step uses it: with g = 1 and plain
 * SGD, p moves by exactly the reported lr each step. */
static void test_schedule_drives_step(void **state)
{
    (void)state;
    rp_optim_config c = rp_optim_defaults(RP_SGD);
    c.lr = 0.5f;
    c.schedule = RP_SCHED_STEP;
    c.step_size = 2;
    c.gamma = 0.1f;
    c.warmup_steps = 2;
    fx f = setup(&c);
    const double want[] = {0.25, 0.5, 0.05, 0.05, 0.005};
    for (int t = 0; t < 5; t++) {
        float lr = rp_optim_lr(f.o);
        assert_true(fabs(lr - want[t]) <= 1e-6 * want[t]);
        float before = f.m->g.params[P].data[0];
        f.m->g.params[P].grad[0] = 1.0f;
        rp_optim_step(f.o);
        assert_true(fabsf((before - f.m->g.params[P].data[0]) - lr) <= 1e-6f);
    }
    teardown(&f);
}

/* ---- frozen parameters and buffers ---------------------------------------------------- */

static void test_frozen_sgd(void **state)
{
    (void)state;
    rp_optim_config c = rp_optim_defaults(RP_SGD);
    c.lr = 0.1f;
    c.momentum = 0.9f;
    c.nesterov = true;
    c.weight_decay = 0.01f; /* decay alone would move a parameter with zero gradient */
    fx f = setup(&c);
    step(&f, 0);
    step(&f, 1);
    rp_param *b = &f.m->g.params[B];
    float keep[2], keep_buf[2];
    memcpy(keep, b->data, sizeof keep);
    memcpy(keep_buf, rp_optim_slot(f.o, 0, B), sizeof keep_buf);
    b->frozen = true;
    step(&f, 2); /* b's gradient is nonzero, its momentum buffer too: it still must not move */
    step(&f, 3);
    assert_memory_equal(b->data, keep, sizeof keep);
    assert_memory_equal(rp_optim_slot(f.o, 0, B), keep_buf, sizeof keep_buf);
    assert_int_equal(rp_optim_param_steps(f.o, B), 2);
    assert_int_equal(rp_optim_param_steps(f.o, P), 4);
    /* Unfrozen, it resumes from its kept buffer (PyTorch keeps state of skipped params). */
    b->frozen = false;
    step(&f, 0);
    double d[2], want[2];
    for (int i = 0; i < 2; i++) {
        d[i] = -G[0][i] + 0.01 * keep[i];
        double buf = 0.9 * keep_buf[i] + d[i];
        want[i] = keep[i] - 0.1 * (d[i] + 0.9 * buf);
    }
    check("sgd unfrozen b", b->data, want, 2);
    teardown(&f);
}

/* A parameter frozen from the start and unfrozen later gets AdamW's first-step update
 * (its own step count 1) even though the global step is later. */
static void test_frozen_adamw(void **state)
{
    (void)state;
    rp_optim_config c = rp_optim_defaults(RP_ADAMW);
    c.lr = 0.01f;
    c.weight_decay = 0.5f;
    fx f = setup(&c);
    rp_param *b = &f.m->g.params[B];
    b->frozen = true;
    for (int t = 0; t < 3; t++) step(&f, t);
    assert_memory_equal(b->data, B0, sizeof B0);
    assert_int_equal(rp_optim_param_steps(f.o, B), 0);
    b->frozen = false;
    step(&f, 3);
    assert_int_equal(rp_optim_param_steps(f.o, B), 1);
    for (int i = 0; i < 2; i++) {
        double g = -G[3][i];
        double want = B0[i] * (1.0 - 0.01 * 0.5) - 0.01 * (g > 0 ? 1 : -1) * fabs(g) / (fabs(g) + 1e-8);
        assert_true(fabs(b->data[i] - want) <= 1e-6);
    }
    teardown(&f);
}

static void test_buffers_unchanged(void **state)
{
    (void)state;
    rp_optim_config cs[2] = {rp_optim_defaults(RP_SGD), rp_optim_defaults(RP_ADAMW)};
    cs[0].momentum = 0.9f;
    cs[0].weight_decay = 0.1f;
    cs[1].weight_decay = 0.1f;
    for (int k = 0; k < 2; k++) {
        fx f = setup(&cs[k]);
        assert_null(f.m->g.params[RM].grad);
        for (int t = 0; t < 3; t++) step(&f, t);
        assert_memory_equal(f.m->g.params[RM].data, RM0, sizeof RM0);
        assert_int_equal(rp_optim_param_steps(f.o, RM), 0);
        for (int s = 0; s < rp_optim_num_slots(f.o); s++) assert_null(rp_optim_slot(f.o, s, RM));
        teardown(&f);
    }
}

static void test_no_decay(void **state)
{
    (void)state;
    rp_optim_config c = rp_optim_defaults(RP_SGD);
    c.lr = 0.1f;
    c.weight_decay = 0.5f;
    fx f = setup(&c);
    f.m->g.params[P].no_decay = true;
    step(&f, 0);
    double want[3];
    sgd_expected(want, 1, 0.1, 0.0, 0.0, false);
    check("sgd no_decay", f.m->g.params[P].data, want, 3);
    teardown(&f);
}

/* ---- configuration and state --------------------------------------------------------- */

static void expect_bad(rp_optim_config c, const char *needle)
{
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model *m = fx_model(ctx, TENSORS, 3);
    rp_optim *o = (rp_optim *)&o; /* must be reset to NULL */
    assert_int_equal(rp_optim_create(ctx, m, &c, &o), RP_ERR_ARG);
    assert_null(o);
    if (!strstr(rp_ctx_error(ctx), needle)) fail_msg("error '%s' lacks '%s'", rp_ctx_error(ctx), needle);
    fx_model_free(m);
    rp_ctx_destroy(ctx);
}

static void test_bad_config(void **state)
{
    (void)state;
    rp_optim_config c = rp_optim_defaults(RP_SGD);
    c.lr = -1.0f;
    expect_bad(c, "learning rate");
    c.lr = NAN;
    expect_bad(c, "learning rate");
    c = rp_optim_defaults(RP_SGD);
    c.momentum = 1.0f;
    expect_bad(c, "momentum");
    c.momentum = 0.0f;
    c.nesterov = true;
    expect_bad(c, "Nesterov");
    c = rp_optim_defaults(RP_ADAMW);
    c.beta2 = 1.0f;
    expect_bad(c, "betas");
    c = rp_optim_defaults(RP_ADAMW);
    c.weight_decay = -0.1f;
    expect_bad(c, "weight decay");
    c = rp_optim_defaults(RP_SGD);
    c.schedule = RP_SCHED_STEP;
    expect_bad(c, "step_size");
    c.step_size = 2;
    c.gamma = 0.0f;
    expect_bad(c, "gamma");
    c = rp_optim_defaults(RP_SGD);
    c.schedule = RP_SCHED_COSINE;
    expect_bad(c, "total_steps");
    c = rp_optim_defaults(RP_SGD);
    c.warmup_steps = -1;
    expect_bad(c, "warmup_steps");
}

/* Copying the slots and step counters into a fresh optimizer resumes exactly. */
static void test_state_restore(void **state)
{
    (void)state;
    rp_optim_config cs[2] = {rp_optim_defaults(RP_SGD), rp_optim_defaults(RP_ADAMW)};
    cs[0].momentum = 0.9f;
    cs[0].nesterov = true;
    cs[0].weight_decay = 0.01f;
    cs[1].schedule = RP_SCHED_COSINE;
    cs[1].total_steps = 6;
    for (int k = 0; k < 2; k++) {
        fx a = setup(&cs[k]);
        a.m->g.params[B].frozen = true; /* so that per-parameter step counts differ */
        step(&a, 0);
        a.m->g.params[B].frozen = false;
        step(&a, 1);
        fx b = setup(&cs[k]);
        for (int i = 0; i < 3; i++) memcpy(b.m->g.params[i].data, a.m->g.params[i].data, a.m->g.params[i].numel * sizeof(float));
        int64_t ps[3];
        for (int i = 0; i < 3; i++) {
            ps[i] = rp_optim_param_steps(a.o, i);
            for (int s = 0; s < rp_optim_num_slots(a.o); s++)
                if (rp_optim_slot(a.o, s, i))
                    memcpy(rp_optim_slot(b.o, s, i), rp_optim_slot(a.o, s, i), a.m->g.params[i].numel * sizeof(float));
        }
        assert_int_equal(ps[P], 2);
        assert_int_equal(ps[B], 1);
        assert_int_equal(rp_optim_restore_steps(b.o, rp_optim_steps(a.o), ps, 3), RP_OK);
        assert_true(rp_optim_lr(a.o) == rp_optim_lr(b.o));
        for (int t = 2; t < 4; t++) {
            step(&a, t);
            step(&b, t);
        }
        for (int i = 0; i < 2; i++)
            assert_memory_equal(a.m->g.params[i].data, b.m->g.params[i].data, a.m->g.params[i].numel * sizeof(float));
        /* Counters that cannot be: negative, above the steps taken, on a buffer, wrong count. */
        int64_t bad[3][3] = {{-1, 0, 0}, {5, 0, 0}, {1, 1, 1}};
        for (int j = 0; j < 3; j++) assert_int_equal(rp_optim_restore_steps(b.o, 4, bad[j], 3), RP_ERR_ARG);
        assert_non_null(strstr(rp_ctx_error(b.ctx), "rm"));
        assert_int_equal(rp_optim_restore_steps(b.o, 4, ps, 2), RP_ERR_SHAPE);
        assert_int_equal(rp_optim_restore_steps(b.o, -1, ps, 3), RP_ERR_ARG);
        teardown(&a);
        teardown(&b);
    }
}

/* A tensor big enough for the parallel path: every element matches the closed form, and
 * the result is bit-identical with 1 and 2 threads. */
static void test_parallel_update(void **state)
{
    (void)state;
    enum { N = 50000 };
    const fx_tensor big[] = {{"w", N, true}};
    rp_optim_config cs[2] = {rp_optim_defaults(RP_SGD), rp_optim_defaults(RP_ADAMW)};
    cs[0].momentum = 0.9f;
    cs[0].nesterov = true;
    cs[0].weight_decay = 5e-4f;
    cs[0].lr = 0.1f;
    float *out[2];
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        for (int k = 0; k < 2; k++) {
            rp_ctx *ctx = rp_ctx_create(threads);
            rp_model *m = fx_model(ctx, big, 1);
            rp_param *w = &m->g.params[0];
            tu_fill_uniform(w->data, N, -1, 1, 5);
            rp_optim *o;
            assert_int_equal(rp_optim_create(ctx, m, &cs[k], &o), RP_OK);
            for (int t = 0; t < 3; t++) {
                tu_fill_uniform(w->grad, N, -1, 1, 10 + (uint64_t)t);
                rp_optim_step(o);
            }
            if (threads == 1) {
                out[k] = malloc(N * sizeof(float));
                memcpy(out[k], w->data, N * sizeof(float));
                /* closed form, element by element, for SGD with Nesterov */
                if (k == 0) {
                    float *p0 = malloc(N * sizeof(float)), *g = malloc(3 * N * sizeof(float));
                    tu_fill_uniform(p0, N, -1, 1, 5);
                    for (int t = 0; t < 3; t++) tu_fill_uniform(g + (size_t)t * N, N, -1, 1, 10 + (uint64_t)t);
                    for (size_t i = 0; i < N; i++) {
                        double p = p0[i], buf = 0;
                        for (int t = 0; t < 3; t++) {
                            double d = g[(size_t)t * N + i] + 5e-4 * p;
                            buf = t == 0 ? d : 0.9 * buf + d;
                            p -= 0.1 * (d + 0.9 * buf);
                        }
                        if (!(fabs(w->data[i] - p) <= 1e-7 + 1e-6 * fabs(p)))
                            fail_msg("parallel sgd element %zu: %.9g vs %.9g", i, (double)w->data[i], p);
                    }
                    free(p0);
                    free(g);
                }
            } else {
                assert_memory_equal(w->data, out[k], N * sizeof(float));
                free(out[k]);
            }
            rp_optim_destroy(o);
            fx_model_free(m);
            rp_ctx_destroy(ctx);
        }
    }
}

/* ---- a real model -------------------------------------------------------------------- */

/* The "mlp" architecture trained on one fixed batch with SGD (momentum, weight decay)
 * after rp_model_freeze("fc1"): fc1's tensors stay bit-identical, fc2's move, and the
 * loss goes down (from the first to the last of 30 steps). */
static void test_mlp_freeze_and_train(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config mc = {.arch = "mlp", .num_classes = 3, .H = 2, .W = 2, .C = 1, .mean = {0.5f},
                          .std = {0.25f}, .max_batch = 6, .seed = 3};
    rp_model *m = NULL;
    if (rp_model_create(ctx, &mc, &m) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    assert_int_equal(rp_model_freeze(m, "fc1", true), 2);
    int w1 = rp_graph_find_param(&m->g, "fc1.weight"), w2 = rp_graph_find_param(&m->g, "fc2.weight");
    assert_true(w1 >= 0 && w2 >= 0);
    const rp_param *fc1 = &m->g.params[w1], *fc2 = &m->g.params[w2];
    float *keep1 = malloc(fc1->numel * sizeof(float)), *keep2 = malloc(fc2->numel * sizeof(float));
    memcpy(keep1, fc1->data, fc1->numel * sizeof(float));
    memcpy(keep2, fc2->data, fc2->numel * sizeof(float));

    rp_optim_config c = rp_optim_defaults(RP_SGD);
    c.lr = 0.2f;
    c.momentum = 0.9f;
    c.weight_decay = 0.01f;
    rp_optim *o = NULL;
    assert_int_equal(rp_optim_create(ctx, m, &c, &o), RP_OK);
    float x[6 * 4], dlogits[6 * 3];
    int32_t y[6] = {0, 1, 2, 0, 1, 2};
    tu_fill_uniform(x, 6 * 4, 0, 1, 7);
    float first = 0, last = 0;
    for (int t = 0; t < 30; t++) {
        rp_model_zero_grad(m);
        const float *logits = rp_model_forward(m, x, 6, true);
        last = rp_softmax_xent(logits, y, 6, 3, 0.0f, dlogits, 1.0f, NULL);
        if (t == 0) first = last;
        rp_model_backward(m, dlogits, NULL, RP_GRAD_PARAMS);
        rp_optim_step(o);
    }
    assert_memory_equal(fc1->data, keep1, fc1->numel * sizeof(float));
    assert_int_equal(rp_optim_param_steps(o, w1), 0);
    assert_int_equal(rp_optim_param_steps(o, w2), 30);
    assert_true(memcmp(fc2->data, keep2, fc2->numel * sizeof(float)) != 0);
    if (!(last < 0.9f * first)) fail_msg("mlp loss %g after 30 steps, %g at the first", (double)last, (double)first);
    free(keep1);
    free(keep2);
    rp_optim_destroy(o);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_plain),
        cmocka_unit_test(test_sgd_weight_decay),
        cmocka_unit_test(test_sgd_momentum),
        cmocka_unit_test(test_sgd_nesterov),
        cmocka_unit_test(test_sgd_momentum_buffer),
        cmocka_unit_test(test_adamw),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_schedule_drives_step),
        cmocka_unit_test(test_frozen_sgd),
        cmocka_unit_test(test_frozen_adamw),
        cmocka_unit_test(test_buffers_unchanged),
        cmocka_unit_test(test_no_decay),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_state_restore),
        cmocka_unit_test(test_parallel_update),
        cmocka_unit_test(test_mlp_freeze_and_train),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
