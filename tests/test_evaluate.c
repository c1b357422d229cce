/* The evaluation table on a small mlp whose labels are its own clean predictions (so clean
 * accuracy is 100% and every example is attackable): robust <= clean, worst <= every attack
 * at its eps, perturbations inside the ball, clean equals rp_evaluate, no row (attacks
 * included) depends on the batch size, a shard's rows are the whole table's for its examples, two copies of one model get identical columns, a transfer
 * from the model itself equals white-box FGSM, and a model of another input size is refused.
 * Corruption rows: the same images for any batch size and for every model, saturate on
 * grayscale not applicable (NaN, never zeros), and the CE / relative CE / mCE arithmetic on
 * hand-made results. Calibration: the expected calibration error of a clean and a corrupted
 * row recomputed here from the logits. Test-time batch-norm adaptation (a ResNet): each batch
 * is scored as a batch-statistics forward of that batch would score it, the running statistics
 * are the same bytes afterwards, and a model without batch norm or an attack row is refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "nn/model.h"
#include "robust/evaluate.h"
#include "model_testutil.h"
#include "testutil.h"

enum { N = 40, H = 6, W = 6, C = 1, K = 10 };

static rp_model *make_model(rp_ctx *ctx, int h, uint64_t seed)
{
    rp_model_config mc = {.arch = "mlp", .num_classes = K, .H = h, .W = h, .C = C, .max_batch = 64, .seed = seed,
                          .mean = {0.5f}, .std = {0.25f}};
    rp_model *m = NULL;
    assert_int_equal(rp_model_create(ctx, &mc, &m), RP_OK);
    return m;
}

/* Random images labelled by the model itself. */
static rp_dataset *make_data(rp_ctx *ctx, rp_model *m)
{
    uint8_t pix[N * H * W * C];
    float x[N * H * W * C];
    int32_t y[N];
    rp_rng r;
    rp_rng_seed(&r, 77, 1);
    for (int i = 0; i < N * H * W * C; i++) pix[i] = (uint8_t)rp_rng_below(&r, 256), x[i] = pix[i] / 255.0f;
    const float *z = rp_model_forward(m, x, N, false);
    for (int i = 0; i < N; i++) {
        int b = 0;
        for (int k = 1; k < K; k++)
            if (z[i * K + k] > z[i * K + b]) b = k;
        y[i] = b;
    }
    rp_dataset *ds = NULL;
    assert_int_equal(rp_dataset_from_memory(ctx, pix, y, N, H, W, C, K, NULL, &ds), RP_OK);
    return ds;
}

static rp_condition attack(rp_attack_kind k, float eps)
{
    rp_attack_config c = rp_attack_defaults(k, eps);
    c.steps = k == RP_ATTACK_SQUARE ? 30 : 3;
    c.square_queries = 30;
    c.seed = 3;
    return (rp_condition){.kind = RP_COND_ATTACK, .attack = c};
}

static int conditions(rp_condition *c)
{
    int n = 0;
    c[n++] = (rp_condition){.kind = RP_COND_CLEAN};
    c[n++] = (rp_condition){.kind = RP_COND_NOISE, .noise = RP_NOISE_GAUSSIAN, .severity = 5, .strength = 0.3f};
    c[n++] = (rp_condition){.kind = RP_COND_NOISE, .noise = RP_NOISE_IMPULSE, .severity = 3, .strength = 0.2f};
    const float eps[2] = {0.02f, 0.1f};
    for (int e = 0; e < 2; e++) {
        c[n++] = attack(RP_ATTACK_FGSM, eps[e]);
        c[n++] = attack(RP_ATTACK_PGD, eps[e]);
        c[n++] = attack(RP_ATTACK_NOISE, eps[e]);
        c[n++] = attack(RP_ATTACK_WORST, eps[e]); /* no APGD-CE in the table: runs the library's WORST too */
    }
    /* with APGD-CE, APGD-T and Square in the table the worst case is their per-example union alone */
    c[n++] = attack(RP_ATTACK_APGD_CE, 0.05f);
    c[n++] = attack(RP_ATTACK_APGD_T, 0.05f);
    c[n++] = attack(RP_ATTACK_SQUARE, 0.05f);
    c[n++] = attack(RP_ATTACK_WORST, 0.05f);
    return n;
}

static void test_table(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model *m1 = make_model(ctx, H, 5), *m2 = make_model(ctx, H, 5);
    rp_dataset *ds = make_data(ctx, m1);
    rp_condition c[24];
    int nc = conditions(c);
    rp_model *ms[2] = {m1, m2};
    rp_cond_result r[48], rb[48];
    rp_eval_table_opts o = {.n = 0, .batch = 16, .seed = 9};
    assert_int_equal(rp_evaluate_table(ctx, ms, 2, ds, c, nc, &o, r), RP_OK);
    assert_float_equal(r[0].accuracy, 1.0, 0); /* labels are the model's predictions */
    assert_true(r[0].deterministic);
    double acc = 0;
    assert_int_equal(rp_evaluate(ctx, m1, ds, 0, 16, &acc, NULL), RP_OK);
    assert_float_equal(acc, r[0].accuracy, 0);
    for (int i = 0; i < nc; i++) {
        /* two copies of the same model: identical columns (noise drawn once, attacks seeded alike) */
        assert_int_equal(r[2 * i].correct, r[2 * i + 1].correct);
        assert_int_equal(r[2 * i].n, N);
        if (c[i].kind != RP_COND_ATTACK) continue;
        assert_true(r[2 * i].accuracy <= r[0].accuracy);
        assert_true(r[2 * i].ball_checked && r[2 * i].in_ball);
        assert_true(r[2 * i].max_norm <= c[i].attack.eps * (1.0f + 1e-6f) + 1e-6f);
    }
    for (int i = 0; i < nc; i++) /* worst <= every attack at its eps */
        if (c[i].kind == RP_COND_ATTACK && c[i].attack.kind == RP_ATTACK_WORST)
            for (int j = 0; j < nc; j++)
                if (c[j].kind == RP_COND_ATTACK && c[j].attack.eps == c[i].attack.eps)
                    assert_true(r[2 * i].correct <= r[2 * j].correct);
    assert_int_equal(c[nc - 1].attack.kind, RP_ATTACK_WORST);
    assert_int_equal(r[2 * (nc - 1)].passes, 0); /* union only: no attack ran for it */
    assert_true(r[2 * (nc - 1)].correct < N);
    int pgd_big = 8; /* PGD at eps 0.1 must find something on an untrained mlp */
    assert_int_equal(c[pgd_big].attack.kind, RP_ATTACK_PGD);
    assert_true(r[2 * pgd_big].accuracy < 1.0);
    /* strong noise changes some predictions */
    assert_true(r[2].accuracy < 1.0);

    /* every random draw is keyed by the example's index in the data set: batch size 7 gives
       the same rows, attacks included, and so does every example of a shard (the last 27
       from example 13, batch 5) */
    unsigned char *ok16 = malloc((size_t)nc * 2 * N), *ok7 = malloc((size_t)nc * 2 * N),
                  *okshard = malloc((size_t)nc * 2 * N);
    o.correct = ok16;
    assert_int_equal(rp_evaluate_table(ctx, ms, 2, ds, c, nc, &o, r), RP_OK);
    o.batch = 7, o.correct = ok7;
    assert_int_equal(rp_evaluate_table(ctx, ms, 2, ds, c, nc, &o, rb), RP_OK);
    assert_memory_equal(ok16, ok7, (size_t)nc * 2 * N);
    for (int i = 0; i < 2 * nc; i++) assert_int_equal(r[i].correct, rb[i].correct);
    enum { FIRST = 13 };
    o.first = FIRST, o.batch = 5, o.correct = okshard;
    assert_int_equal(rp_evaluate_table(ctx, ms, 2, ds, c, nc, &o, rb), RP_OK);
    for (int i = 0; i < 2 * nc; i++) {
        assert_int_equal(rb[i].n, N - FIRST);
        assert_memory_equal(okshard + (size_t)i * (N - FIRST), ok16 + (size_t)i * N + FIRST, N - FIRST);
    }
    o.first = N; /* no examples left */
    assert_int_equal(rp_evaluate_table(ctx, ms, 2, ds, c, nc, &o, rb), RP_ERR_ARG);
    o.first = 0, o.correct = NULL;
    free(ok16), free(ok7), free(okshard);

    /* transfer from the model itself: FGSM (deterministic) equals white-box */
    rp_condition f[2] = {{.kind = RP_COND_CLEAN}, attack(RP_ATTACK_FGSM, 0.1f)};
    rp_cond_result rw[2], rt[2];
    o.batch = 16;
    assert_int_equal(rp_evaluate_table(ctx, &m2, 1, ds, f, 2, &o, rw), RP_OK);
    o.source = m1;
    assert_int_equal(rp_evaluate_table(ctx, &m2, 1, ds, f, 2, &o, rt), RP_OK);
    assert_int_equal(rw[1].correct, rt[1].correct);
    assert_true(rw[1].correct < N);

    /* a model for 8x8 images does not fit 6x6 data */
    rp_model *big = make_model(ctx, 8, 1);
    rp_model *bad[2] = {m1, big};
    o.source = NULL;
    assert_int_equal(rp_evaluate_table(ctx, bad, 2, ds, f, 2, &o, rw), RP_ERR_SHAPE);
    assert_non_null(strstr(rp_ctx_error(ctx), "model 2: data images are 6x6x1 but the model expects 8x8x1"));
    /* negative eps is refused */
    rp_condition neg[1] = {attack(RP_ATTACK_FGSM, -0.1f)};
    assert_int_equal(rp_evaluate_table(ctx, &m1, 1, ds, neg, 1, &o, rw), RP_ERR_ARG);

    rp_model_destroy(big);
    rp_model_destroy(m1), rp_model_destroy(m2);
    rp_dataset_destroy(ds);
    rp_ctx_destroy(ctx);
}

/* Corruption rows through the table: values depend on the corruption implementations, so
 * only invariants are checked. */
static void test_corruption_rows(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    rp_model *m1 = make_model(ctx, H, 5), *m2 = make_model(ctx, H, 5);
    rp_dataset *ds = make_data(ctx, m1);
    rp_condition c[8];
    int nc = 0;
    c[nc++] = (rp_condition){.kind = RP_COND_CLEAN};
    const rp_corruption which[3] = {RP_CORR_GAUSSIAN_NOISE, RP_CORR_FOG, RP_CORR_SATURATE};
    for (int k = 0; k < 3; k++)
        for (int s = 2; s <= 5; s += 3)
            c[nc++] = (rp_condition){.kind = RP_COND_CORRUPTION, .corruption = which[k], .severity = s};
    rp_model *ms[2] = {m1, m2};
    rp_cond_result r[16], rb[16];
    rp_eval_table_opts o = {.batch = 16, .seed = 4};
    assert_int_equal(rp_evaluate_table(ctx, ms, 2, ds, c, nc, &o, r), RP_OK);
    o.batch = 7;
    assert_int_equal(rp_evaluate_table(ctx, ms, 2, ds, c, nc, &o, rb), RP_OK);
    for (int i = 0; i < nc; i++) {
        bool sat = c[i].kind == RP_COND_CORRUPTION && c[i].corruption == RP_CORR_SATURATE;
        for (int m = 0; m < 2; m++) {
            const rp_cond_result *x = &r[2 * i + m];
            assert_int_equal(x->not_applicable, sat);
            assert_int_equal(x->n, sat ? 0 : N);
            assert_true(sat ? isnan(x->accuracy) : x->accuracy >= 0.0 && x->accuracy <= 1.0);
            assert_int_equal(x->correct, rb[2 * i + m].correct); /* image i's corruption: not the batch's */
        }
        assert_int_equal(r[2 * i].correct, r[2 * i + 1].correct); /* both models saw the same images */
    }
    /* severity outside 1..5 is refused */
    rp_condition bad[1] = {{.kind = RP_COND_CORRUPTION, .corruption = RP_CORR_FOG, .severity = 6}};
    assert_int_equal(rp_evaluate_table(ctx, ms, 2, ds, bad, 1, &o, rb), RP_ERR_ARG);
    rp_model_destroy(m1), rp_model_destroy(m2);
    rp_dataset_destroy(ds);
    rp_ctx_destroy(ctx);
}

static rp_cond_result acc(double a) { return (rp_cond_result){.n = 100, .accuracy = a}; }

/* CE = sum_s err / sum_s err_ref; relative CE subtracts the clean error; means by hand. */
static void test_corruption_summary(void **state)
{
    (void)state;
    enum { M = 2 }; /* column 0: the model, column 1: the reference */
    rp_condition c[8] = {{.kind = RP_COND_CLEAN}};
    rp_cond_result r[8 * M];
    r[0] = acc(0.9), r[1] = acc(0.8);
    int nc = 1;
    /* fog at severities 1, 3: model err .2, .4 (clean .1), reference err .4, .6 (clean .2) */
    c[nc] = (rp_condition){.kind = RP_COND_CORRUPTION, .corruption = RP_CORR_FOG, .severity = 1};
    r[2 * nc] = acc(0.8), r[2 * nc + 1] = acc(0.6), nc++;
    c[nc] = (rp_condition){.kind = RP_COND_CORRUPTION, .corruption = RP_CORR_FOG, .severity = 3};
    r[2 * nc] = acc(0.6), r[2 * nc + 1] = acc(0.4), nc++;
    /* defocus blur: the reference is not hurt (relative CE undefined) */
    c[nc] = (rp_condition){.kind = RP_COND_CORRUPTION, .corruption = RP_CORR_DEFOCUS_BLUR, .severity = 1};
    r[2 * nc] = acc(0.7), r[2 * nc + 1] = acc(0.8), nc++;
    /* saturate: not applicable */
    c[nc] = (rp_condition){.kind = RP_COND_CORRUPTION, .corruption = RP_CORR_SATURATE, .severity = 1};
    r[2 * nc] = r[2 * nc + 1] = (rp_cond_result){.not_applicable = true, .accuracy = NAN}, nc++;
    rp_corruption_summary sum[RP_CORR_COUNT];
    rp_corruption_means mn;
    rp_corruption_summarize(c, nc, r, M, 0, 1, sum, &mn);
    assert_true(sum[RP_CORR_FOG].present && sum[RP_CORR_FOG].applicable);
    assert_int_equal(sum[RP_CORR_FOG].severities, 2);
    assert_float_equal(sum[RP_CORR_FOG].accuracy, 0.7, 1e-12);
    assert_float_equal(sum[RP_CORR_FOG].ce, 0.6 / 1.0, 1e-12);
    assert_float_equal(sum[RP_CORR_FOG].relative_ce, (0.1 + 0.3) / (0.2 + 0.4), 1e-12);
    assert_float_equal(sum[RP_CORR_DEFOCUS_BLUR].ce, 0.3 / 0.2, 1e-12);
    assert_true(isnan(sum[RP_CORR_DEFOCUS_BLUR].relative_ce));
    assert_true(sum[RP_CORR_SATURATE].present && !sum[RP_CORR_SATURATE].applicable);
    assert_true(isnan(sum[RP_CORR_SATURATE].accuracy) && isnan(sum[RP_CORR_SATURATE].ce));
    assert_false(sum[RP_CORR_SNOW].present);
    assert_int_equal(mn.count, 2); /* saturate left out of every mean */
    assert_float_equal(mn.accuracy, (0.7 + 0.7) / 2, 1e-12);
    assert_float_equal(mn.family_accuracy[RP_FAMILY_WEATHER], 0.7, 1e-12);
    assert_int_equal(mn.family_count[RP_FAMILY_DIGITAL], 0);
    assert_true(isnan(mn.family_accuracy[RP_FAMILY_DIGITAL]));
    assert_false(mn.mce_imagenet_c);
    assert_int_equal(mn.mce_count, 2);
    assert_float_equal(mn.mce, (0.6 + 1.5) / 2, 1e-12);
    assert_int_equal(mn.relative_mce_defined, 1);
    assert_float_equal(mn.relative_mce, 0.4 / 0.6, 1e-12);
    /* the reference against itself: CE 1 everywhere */
    rp_corruption_summarize(c, nc, r, M, 1, 1, sum, &mn);
    assert_float_equal(sum[RP_CORR_FOG].ce, 1.0, 1e-12);
    assert_float_equal(sum[RP_CORR_FOG].relative_ce, 1.0, 1e-12);
    assert_float_equal(mn.mce, 1.0, 1e-12);
    /* no reference: no CE */
    rp_corruption_summarize(c, nc, r, M, 0, -1, sum, &mn);
    assert_true(isnan(sum[RP_CORR_FOG].ce) && isnan(mn.mce));
    assert_float_equal(sum[RP_CORR_FOG].accuracy, 0.7, 1e-12);

    /* all 15 ImageNet-C corruptions and an extra: mCE over the 15 only */
    rp_condition c2[17] = {{.kind = RP_COND_CLEAN}};
    rp_cond_result r2[17 * M] = {acc(1.0), acc(1.0)};
    for (int k = 0; k < 16; k++) {
        c2[k + 1] = (rp_condition){.kind = RP_COND_CORRUPTION, .corruption = k <= RP_CORR_JPEG ? k : RP_CORR_SPATTER,
                                   .severity = 1};
        r2[2 * (k + 1)] = acc(k <= RP_CORR_JPEG ? 0.5 : 0.0); /* CE 0.5 on the 15, 1.0 on spatter */
        r2[2 * (k + 1) + 1] = acc(0.0);
    }
    rp_corruption_summarize(c2, 17, r2, M, 0, 1, sum, &mn);
    assert_true(mn.mce_imagenet_c);
    assert_int_equal(mn.mce_count, 15);
    assert_float_equal(mn.mce, 0.5, 1e-12);
    assert_int_equal(mn.count, 16);
}

/* ECE from the logits of every batch: 15 equal-width bins of the top softmax probability. */
static double ece_by_hand(rp_model *m, const float *x, const int32_t *y, int n)
{
    double cnt[15] = {0}, conf[15] = {0}, hit[15] = {0};
    const float *z = rp_model_forward(m, x, n, false);
    for (int i = 0; i < n; i++) {
        int top = 0;
        for (int k = 1; k < K; k++)
            if (z[i * K + k] > z[i * K + top]) top = k;
        double sum = 0.0;
        for (int k = 0; k < K; k++) sum += exp((double)z[i * K + k] - (double)z[i * K + top]);
        double p = 1.0 / sum;
        int b = p >= 1.0 ? 14 : (int)(p * 15);
        cnt[b] += 1, conf[b] += p, hit[b] += top == y[i];
    }
    double e = 0.0;
    for (int b = 0; b < 15; b++) e += fabs(hit[b] - conf[b]) / n;
    return e;
}

static void test_calibration(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    rp_model *m = make_model(ctx, H, 5);
    rp_dataset *ds = make_data(ctx, m);
    rp_model *other = make_model(ctx, H, 6); /* not its labeller: some errors, some confidence */
    rp_condition c[2] = {{.kind = RP_COND_CLEAN}, {.kind = RP_COND_CORRUPTION, .corruption = RP_CORR_FOG, .severity = 3}};
    rp_eval_table_opts o = {.batch = 16, .seed = 2};
    rp_cond_result r[2];
    assert_int_equal(rp_evaluate_table(ctx, &other, 1, ds, c, 2, &o, r), RP_OK);
    float *x = malloc((size_t)N * H * W * C * sizeof(float)), *xc = malloc((size_t)N * H * W * C * sizeof(float));
    int32_t y[N];
    int idx[N];
    for (int i = 0; i < N; i++) idx[i] = i;
    rp_dataset_gather(ds, idx, N, x, y);
    memcpy(xc, x, (size_t)N * H * W * C * sizeof(float));
    assert_int_equal(rp_corrupt_batch(ctx, RP_CORR_FOG, 3, xc, N, H, W, C, 2, 0), RP_OK);
    double want[2] = {ece_by_hand(other, x, y, N), ece_by_hand(other, xc, y, N)};
    for (int k = 0; k < 2; k++) {
        printf("# ece %s: %.4f (by hand %.4f), accuracy %.3f\n", k ? "fog 3" : "clean", r[k].ece, want[k], r[k].accuracy);
        assert_true(fabs(r[k].ece - want[k]) < 1e-5); /* batches of 16 vs one of 40: logits differ in rounding */
        assert_true(r[k].ece > 0.0 && r[k].ece < 1.0);
    }
    free(x), free(xc);
    rp_model_destroy(m), rp_model_destroy(other);
    rp_dataset_destroy(ds);
    rp_ctx_destroy(ctx);
}

static void test_adapt_bn(void **state)
{
    (void)state;
    enum { S = 16, NB = 32, BATCH = 16, C3 = 3 };
    rp_ctx *ctx = rp_ctx_create(2);
    rp_model_config mc = {.arch = "resnet18_cifar", .num_classes = K, .H = S, .W = S, .C = C3, .max_batch = BATCH,
                          .seed = 4, .mean = {0.5f, 0.5f, 0.5f}, .std = {0.25f, 0.25f, 0.25f}};
    rp_model *m = NULL;
    assert_int_equal(rp_model_create(ctx, &mc, &m), RP_OK);
    /* images with a common offset the stored statistics do not know: adaptation matters */
    size_t X = (size_t)S * S * C3;
    uint8_t *pix = malloc(NB * X);
    float *x = malloc(NB * X * sizeof(float));
    int32_t y[NB];
    rp_rng r;
    rp_rng_seed(&r, 8, 1);
    for (size_t i = 0; i < NB * X; i++) pix[i] = (uint8_t)(150 + rp_rng_below(&r, 100)), x[i] = pix[i] / 255.0f;
    for (int i = 0; i < NB; i++) y[i] = i % K;
    rp_dataset *ds = NULL;
    assert_int_equal(rp_dataset_from_memory(ctx, pix, y, NB, S, S, C3, K, NULL, &ds), RP_OK);
    /* running statistics as training leaves them: a few batch-statistics passes of other data */
    float *warm = malloc(BATCH * X * sizeof(float));
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < BATCH * X; i++) warm[i] = rp_rng_uniform(&r) * 0.5f;
        rp_model_forward(m, warm, BATCH, true);
    }
    size_t nbuf = 0;
    for (int i = 0; i < m->g.n_params; i++) nbuf += m->g.params[i].trainable ? 0 : m->g.params[i].numel;
    float *before = malloc(nbuf * sizeof(float)), *after = malloc(nbuf * sizeof(float));
    for (int i = 0, at = 0; i < m->g.n_params; i++)
        if (!m->g.params[i].trainable) memcpy(before + at, m->g.params[i].data, m->g.params[i].numel * 4), at += (int)m->g.params[i].numel;

    /* and the logits of one adapted batch against the batch-statistics forward */
    float *zt = malloc(BATCH * K * sizeof(float));
    memcpy(zt, rp_model_forward(m, x, BATCH, true), BATCH * K * sizeof(float));
    for (int i = 0, at = 0; i < m->g.n_params; i++)
        if (!m->g.params[i].trainable) memcpy(m->g.params[i].data, before + at, m->g.params[i].numel * 4), at += (int)m->g.params[i].numel;
    const float *zs = rp_model_forward(m, x, BATCH, false); /* stored statistics */
    double dplain = 0.0;
    for (int i = 0; i < BATCH * K; i++) dplain = fmax(dplain, fabs(zs[i] - zt[i]));
    float *kept;
    assert_int_equal(rp_model_adapt_bn_begin(ctx, m, &kept), RP_OK);
    rp_model_adapt_bn_batch(m, x, BATCH);
    const float *za = rp_model_forward(m, x, BATCH, false);
    double dmax = 0.0, zmax = 0.0;
    for (int i = 0; i < BATCH * K; i++) dmax = fmax(dmax, fabs(za[i] - zt[i])), zmax = fmax(zmax, fabs(zt[i]));
    printf("# logits against a batch-statistics forward: max |diff| %.2e adapted, %.2e stored (max |z| %.2e)\n",
           dmax, dplain, zmax);
    /* the running variance is the unbiased one (N/(N-1), N = 96 in the last stage): close, not equal */
    assert_true(dmax < 5e-2 * zmax && dmax < 0.1 * dplain);
    rp_model_adapt_bn_end(m, kept);

    rp_condition c[2] = {{.kind = RP_COND_CLEAN}, {.kind = RP_COND_CORRUPTION, .corruption = RP_CORR_CONTRAST, .severity = 5}};
    rp_eval_table_opts o = {.batch = BATCH, .seed = 1, .adapt_bn = true};
    rp_cond_result res[2], plain[2];
    assert_int_equal(rp_evaluate_table(ctx, &m, 1, ds, c, 2, &o, res), RP_OK);
    for (int i = 0, at = 0; i < m->g.n_params; i++)
        if (!m->g.params[i].trainable) memcpy(after + at, m->g.params[i].data, m->g.params[i].numel * 4), at += (int)m->g.params[i].numel;
    assert_memory_equal(before, after, nbuf * sizeof(float));
    /* the table adapts batch by batch: the same predictions as adapting by hand */
    long want = 0;
    assert_int_equal(rp_model_adapt_bn_begin(ctx, m, &kept), RP_OK);
    for (int start = 0; start < NB; start += BATCH) {
        rp_model_adapt_bn_batch(m, x + start * X, BATCH);
        const float *z = rp_model_forward(m, x + start * X, BATCH, false);
        for (int i = 0; i < BATCH; i++) {
            int top = 0;
            for (int k = 1; k < K; k++)
                if (z[i * K + k] > z[i * K + top]) top = k;
            want += top == y[start + i];
        }
    }
    rp_model_adapt_bn_end(m, kept);
    printf("# adapt-bn clean: %ld correct (adapted by hand: %ld)\n", res[0].correct, want);
    assert_int_equal(res[0].correct, want);
    o.adapt_bn = false;
    assert_int_equal(rp_evaluate_table(ctx, &m, 1, ds, c, 2, &o, plain), RP_OK);
    printf("# contrast 5: %.3f adapted, %.3f stored statistics\n", res[1].accuracy, plain[1].accuracy);
    /* refusals: an attack row, a model without batch norm */
    rp_condition a = {.kind = RP_COND_ATTACK, .attack = rp_attack_defaults(RP_ATTACK_FGSM, 0.1f)};
    o.adapt_bn = true;
    assert_int_equal(rp_evaluate_table(ctx, &m, 1, ds, &a, 1, &o, res), RP_ERR_ARG);
    rp_model *mlp = make_model(ctx, H, 5);
    rp_dataset *d2 = make_data(ctx, mlp);
    assert_int_equal(rp_evaluate_table(ctx, &mlp, 1, d2, c, 1, &o, res), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(ctx), "no batch norm"));
    free(pix), free(x), free(warm), free(before), free(after), free(zt);
    rp_model_destroy(m), rp_model_destroy(mlp);
    rp_dataset_destroy(ds), rp_dataset_destroy(d2);
    rp_ctx_destroy(ctx);
}

/* Test-time adaptation of a model with stochastic depth before its batch norms
 * (efficientnet_b0, p raised to 0.5): the adapting pass runs without masks, so adapting twice
 * to the same batch leaves the same running statistics, and they do not depend on how many
 * training passes ran before (whose masks would differ). */
static void test_adapt_bn_without_masks(void **state)
{
    (void)state;
    enum { S = 32, BATCH = 4, C3 = 3 };
    rp_ctx *ctx = rp_ctx_create(2);
    rp_model_config mc = {.arch = "efficientnet_b0", .num_classes = K, .H = S, .W = S, .C = C3, .max_batch = BATCH,
                          .seed = 4, .mean = {0.5f, 0.5f, 0.5f}, .std = {0.25f, 0.25f, 0.25f}};
    rp_model *m = mtu_model_begin(ctx, &mc);
    assert_true(rp_build_efficientnet_b0_opts(&m->g, &m->cfg, 0.5f, 0.5f) >= 0);
    mtu_model_finish(m);
    size_t X = (size_t)S * S * C3, nbuf = 0;
    float *x = malloc(BATCH * X * sizeof(float));
    rp_rng r;
    rp_rng_seed(&r, 9, 1);
    for (size_t i = 0; i < BATCH * X; i++) x[i] = rp_rng_uniform(&r);
    /* the running means and variances (num_batches_tracked counts the training passes) */
#define RUNNING(p) (!(p)->trainable && !(p)->is_int64)
    for (int i = 0; i < m->g.n_params; i++) nbuf += RUNNING(&m->g.params[i]) ? m->g.params[i].numel : 0;
    float *first = malloc(nbuf * sizeof(float)), *second = malloc(nbuf * sizeof(float));
    float *kept;
    for (int round = 0; round < 2; round++) {
        if (round) rp_model_forward(m, x, BATCH, true); /* a training pass between: the masks move on */
        assert_int_equal(rp_model_adapt_bn_begin(ctx, m, &kept), RP_OK);
        rp_model_adapt_bn_batch(m, x, BATCH);
        for (int i = 0, at = 0; i < m->g.n_params; i++)
            if (RUNNING(&m->g.params[i]))
                memcpy((round ? second : first) + at, m->g.params[i].data, m->g.params[i].numel * 4),
                    at += (int)m->g.params[i].numel;
        rp_model_adapt_bn_end(m, kept);
    }
#undef RUNNING
    assert_true(nbuf > 0);
    assert_memory_equal(first, second, nbuf * sizeof(float));
    free(x), free(first), free(second);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_table), cmocka_unit_test(test_corruption_rows),
                                       cmocka_unit_test(test_corruption_summary), cmocka_unit_test(test_calibration),
                                       cmocka_unit_test(test_adapt_bn),
                                       cmocka_unit_test(test_adapt_bn_without_masks)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
