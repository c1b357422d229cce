/* Training state (io/trainstate.h): a run saved after some steps and restored into fresh
 * parts continues bit for bit like the run that never stopped — MobileNetV2 (batch-norm
 * running statistics, dropout masks keyed by the objective's seed, epoch and sample -- the run
 * resumed into is built with another seed) with AdamW and the fast objective (random starts
 * keyed by epoch and sample, so nothing of the objective is carried) with a weight average, and an MLP under an
 * unfreeze schedule with SGD momentum; every refusal
 * (other flags, another model, a truncated or foreign file) names the file and leaves the
 * parts untouched. */
#include <stdio.h>
#include <string.h>

#include "io/trainstate.h"
#include "nn/model.h"
#include "testutil.h"

enum { N_DATA = 64, B = 16 };

static struct {
    rp_ctx *ctx;
    float *x; /* (N_DATA, 28, 28, 1) */
    int32_t y[N_DATA];
} S;

static int setup(void **state)
{
    (void)state;
    S.ctx = rp_ctx_create(2);
    S.x = malloc((size_t)N_DATA * 784 * sizeof(float));
    tu_fill_uniform(S.x, (size_t)N_DATA * 784, 0.0f, 1.0f, 11);
    for (int i = 0; i < N_DATA; i++) S.y[i] = (int32_t)((i * 7) % 10);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(S.x);
    rp_ctx_destroy(S.ctx);
    return 0;
}

typedef struct run {
    rp_model *m;
    rp_optim *opt;
    rp_objective *obj;
    rp_unfreeze *unfreeze;
} run;

static run new_run(const char *arch, rp_optim_kind kind, uint64_t seed, bool unfreeze, float ema)
{
    run r = {0};
    rp_model_config mc = {.arch = arch, .num_classes = 10, .H = 28, .W = 28, .C = 1, .max_batch = B, .seed = seed,
                          .width = 0.25f, .mean = {0.3f}, .std = {0.3f}};
    assert_int_equal(rp_model_create(S.ctx, &mc, &r.m), RP_OK);
    rp_optim_config oc = rp_optim_defaults(kind);
    if (kind == RP_SGD) oc.momentum = 0.9f, oc.lr = 0.05f;
    oc.schedule = RP_SCHED_COSINE, oc.total_steps = 20, oc.ema_decay = ema;
    assert_int_equal(rp_optim_create(S.ctx, r.m, &oc, &r.opt), RP_OK);
    rp_objective_config c = rp_objective_defaults();
    c.kind = RP_OBJ_FAST, c.eps = 0.1f, c.norm = RP_NORM_LINF, c.random_init = true, c.seed = 1; /* the run's */
    assert_int_equal(rp_objective_create(S.ctx, r.m, &c, B, &r.obj), RP_OK);
    if (unfreeze) {
        rp_unfreeze_config uc = {.patience = 1, .threshold = 0.5f};
        assert_int_equal(rp_unfreeze_create(S.ctx, r.m, &uc, &r.unfreeze), RP_OK);
    }
    return r;
}

static void free_run(run *r)
{
    rp_unfreeze_destroy(r->unfreeze);
    rp_objective_destroy(r->obj);
    rp_optim_destroy(r->opt);
    rp_model_destroy(r->m);
}

static rp_train_parts parts(run *r) { return (rp_train_parts){r->m, r->opt, r->unfreeze}; }

static void steps(run *r, int first, int n)
{
    int idx[B];
    for (int s = first; s < first + n; s++) {
        int off = (s * B) % N_DATA;
        for (int i = 0; i < B; i++) idx[i] = off + i; /* the random starts are keyed by (epoch, sample) */
        rp_objective_set_examples(r->obj, 1 + s / 4, idx);
        rp_step_stats st;
        if (rp_train_step(r->obj, r->opt, S.x + (size_t)off * 784, S.y + off, B, &st) != RP_OK)
            fail_msg("step %d: %s", s, rp_ctx_error(S.ctx));
    }
}

/* Every parameter and buffer of a and b equal bit for bit. */
static void assert_same_weights(const rp_model *a, const rp_model *b, const char *what)
{
    for (int i = 0; i < a->g.n_params; i++)
        if (memcmp(a->g.params[i].data, b->g.params[i].data, a->g.params[i].numel * sizeof(float)))
            fail_msg("%s: tensor %s differs", what, a->g.params[i].name);
}

static const char *state_path(char *buf, const char *name)
{
    snprintf(buf, 512, "%s/%s", tu_tmpdir(), name);
    return buf;
}

static const char FLAGS[] = "{\"arch\":\"x\",\"batch\":\"16\",\"seed\":\"1\"}";

static void resume_matches(const char *arch, rp_optim_kind kind, bool unfreeze, float ema)
{
    char path[512];
    state_path(path, "resume.state");
    run a = new_run(arch, kind, 5, unfreeze, ema), b = new_run(arch, kind, 6, unfreeze, ema);
    steps(&a, 0, 3);
    if (unfreeze) { /* a plateau position to carry: a best loss, then a bad epoch that unfreezes */
        assert_null(rp_unfreeze_epoch_end(a.unfreeze, 1.0, NULL, 0));
        assert_non_null(rp_unfreeze_epoch_end(a.unfreeze, 0.9, NULL, 0)); /* not 50% better */
        assert_int_equal(rp_unfreeze_frozen(a.unfreeze), rp_unfreeze_frozen(b.unfreeze) - 1);
    }
    rp_train_position pos = {.epoch = 2, .batch = 3, .loss_sum = 1.0 / 3.0, .seen = 48, .correct = 7, .steps = 3,
                             .seconds = 0.125};
    char sha[65] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    rp_train_parts pa = parts(&a), pb = parts(&b);
    if (rp_trainstate_save(S.ctx, path, &pa, &pos, FLAGS, "{\"best\":0.25}", sha) != RP_OK)
        fail_msg("save: %s", rp_ctx_error(S.ctx));
    rp_train_position got;
    char *extra = NULL, link[65];
    if (rp_trainstate_load(S.ctx, path, &pb, FLAGS, &got, &extra, link) != RP_OK)
        fail_msg("load: %s", rp_ctx_error(S.ctx));
    assert_memory_equal(&got, &pos, sizeof pos);
    assert_string_equal(extra, "{\"best\":0.25}");
    assert_string_equal(link, sha);
    free(extra);
    assert_same_weights(a.m, b.m, "restored");
    assert_int_equal(rp_optim_steps(b.opt), 3);
    if (unfreeze) {
        rp_unfreeze_state ua = rp_unfreeze_get_state(a.unfreeze), ub = rp_unfreeze_get_state(b.unfreeze);
        assert_int_equal(ua.n_frozen, ub.n_frozen);
        assert_int_equal(ua.have_best, ub.have_best);
        assert_true(ua.best == ub.best);
        assert_int_equal(ua.bad, ub.bad);
        assert_int_equal(rp_model_num_unfrozen(a.m), rp_model_num_unfrozen(b.m));
    }
    steps(&a, 3, 3); /* both runs go on: the same moments, counters, streams and weights */
    steps(&b, 3, 3);
    assert_same_weights(a.m, b.m, "three steps after resuming");
    if (ema > 0.0f) { /* and the same averages */
        assert_int_equal(rp_optim_swap_average(a.opt), RP_OK);
        assert_int_equal(rp_optim_swap_average(b.opt), RP_OK);
        assert_same_weights(a.m, b.m, "the averages three steps after resuming");
    }
    free_run(&a), free_run(&b);
}

static void test_resume_mobilenet_adamw_fast(void **state)
{
    (void)state;
    resume_matches("mobilenet_v2", RP_ADAMW, false, 0.9f);
}

static void test_resume_mlp_sgd_unfreeze(void **state)
{
    (void)state;
    resume_matches("mlp", RP_SGD, true, 0.0f);
}

/* Load must fail with `want` in the message and leave b's weights as they were. */
static void refused(const char *path, run *b, const char *flags, const char *want)
{
    rp_model_config mc = *rp_model_get_config(b->m);
    rp_model *copy = NULL;
    assert_int_equal(rp_model_create(S.ctx, &mc, &copy), RP_OK);
    for (int i = 0; i < b->m->g.n_params; i++)
        memcpy(copy->g.params[i].data, b->m->g.params[i].data, b->m->g.params[i].numel * sizeof(float));
    rp_train_parts pb = parts(b);
    rp_train_position pos;
    assert_int_not_equal(rp_trainstate_load(S.ctx, path, &pb, flags, &pos, NULL, NULL), RP_OK);
    const char *msg = rp_ctx_error(S.ctx);
    if (!strstr(msg, want) || !strstr(msg, path)) fail_msg("message '%s' lacks '%s' or the path", msg, want);
    assert_same_weights(copy, b->m, "after a refused load");
    assert_int_equal(rp_optim_steps(b->opt), 0);
    rp_model_destroy(copy);
}

static void test_refusals(void **state)
{
    (void)state;
    char path[512], bad[512], ckpt[512];
    state_path(path, "refuse.state");
    run a = new_run("mlp", RP_SGD, 5, false, 0.0f);
    steps(&a, 0, 2);
    rp_train_position pos = {.epoch = 1, .batch = 2};
    rp_train_parts pa = parts(&a);
    assert_int_equal(rp_trainstate_save(S.ctx, path, &pa, &pos, FLAGS, NULL, NULL), RP_OK);
    run b = new_run("mlp", RP_SGD, 6, false, 0.0f);
    refused(path, &b, "{\"arch\":\"x\",\"batch\":\"32\",\"seed\":\"1\"}", "batch: the state was saved with '16', this run has '32'");
    refused(path, &b, "{\"arch\":\"x\",\"batch\":\"16\"}", "seed: the state was saved with '1', this run has none");
    run c = new_run("smallcnn", RP_SGD, 6, false, 0.0f); /* another model */
    refused(path, &c, FLAGS, "no tensor 'model/");
    run d = new_run("mlp", RP_ADAMW, 6, false, 0.0f); /* another optimizer */
    refused(path, &d, FLAGS, "no tensor 'optim/exp_avg/");
    run e = new_run("mlp", RP_SGD, 6, false, 0.5f); /* a weight average the state lacks */
    refused(path, &e, FLAGS, "no tensor 'optim/average/");
    char with_avg[512];
    state_path(with_avg, "average.state");
    rp_train_parts pe = parts(&e);
    assert_int_equal(rp_trainstate_save(S.ctx, with_avg, &pe, &pos, FLAGS, NULL, NULL), RP_OK);
    refused(with_avg, &b, FLAGS, "it was saved with a weight average, this optimizer keeps none");
    /* a truncated copy */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    tu_write_file(state_path(bad, "truncated.state"), buf, n / 2);
    refused(bad, &b, FLAGS, "truncated.state");
    /* a checkpoint is not a state */
    assert_int_equal(rp_model_save(S.ctx, a.m, state_path(ckpt, "weights.safetensors"), NULL), RP_OK);
    refused(ckpt, &b, FLAGS, "not a rampart training state");
    refused(state_path(bad, "missing.state"), &b, FLAGS, "missing.state");
    free_run(&a), free_run(&b), free_run(&c), free_run(&d), free_run(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_mobilenet_adamw_fast),
        cmocka_unit_test(test_resume_mlp_sgd_unfreeze),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
