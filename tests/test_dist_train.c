/* Data-parallel steps (rp_objective_set_dist): each process steps on its piece of a global
 * batch of 50 (pieces of 17/17/16 with 3 processes, one of them run again with an empty
 * piece), and the summed parameter gradients equal the one-process step's within 1e-5
 * relative per tensor, the step statistics the whole batch's -- for erm and for PGD training
 * (per-example inner maximisation, random starts keyed by sample). Run alone and, when the
 * build has MPI, by mpirun with 3 processes (test_dist_train_mpi3). */
#include <math.h>
#include <string.h>

#include "dist/dist.h"
#include "robust/objective.h"
#include "testutil.h"

enum { BG = 50, H = 12, W = 12, C = 1, K = 10 };

static rp_model *model(rp_ctx *ctx)
{
    rp_model_config mc = {.arch = "smallcnn", .num_classes = K, .H = H, .W = W, .C = C, .max_batch = BG, .seed = 5,
                          .mean = {0.5f}, .std = {0.25f}};
    rp_model *m = NULL;
    assert_int_equal(rp_model_create(ctx, &mc, &m), RP_OK);
    return m;
}

/* grads of one step of cfg on samples [lo, hi) of (x, y, idx), with d (NULL: alone). */
static void step(rp_ctx *ctx, rp_model *m, const rp_objective_config *cfg, rp_dist *d, const float *x,
                 const int32_t *y, const int *idx, int lo, int hi, rp_step_stats *st)
{
    rp_objective *o = NULL;
    rp_optim *opt = NULL;
    rp_optim_config oc = rp_optim_defaults(RP_SGD);
    oc.lr = 0.0f; /* the weights stay: the gradients are what is compared */
    assert_int_equal(rp_objective_create(ctx, m, cfg, BG, &o), RP_OK);
    assert_int_equal(rp_optim_create(ctx, m, &oc, &opt), RP_OK);
    assert_int_equal(rp_objective_set_dist(o, d), RP_OK);
    rp_objective_set_examples(o, 1, idx + lo);
    if (rp_train_step(o, opt, x + (size_t)lo * H * W * C, y + lo, hi - lo, st) != RP_OK)
        fail_msg("step: %s", rp_ctx_error(ctx));
    rp_optim_destroy(opt);
    rp_objective_destroy(o);
}

static void test_pieces_sum_to_the_batch(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_dist *d = NULL;
    assert_int_equal(rp_dist_create(ctx, &d), RP_OK);
    int R = rp_dist_rank(d), N = rp_dist_size(d);
    float x[BG * H * W * C];
    int32_t y[BG];
    int idx[BG];
    tu_fill_uniform(x, sizeof x / sizeof x[0], 0.0f, 1.0f, 21);
    for (int i = 0; i < BG; i++) y[i] = (int32_t)(i * 3 % K), idx[i] = 100 + i * 7;
    rp_objective_config erm = rp_objective_defaults(), pgd = erm;
    pgd.kind = RP_OBJ_PGD, pgd.eps = 0.1f, pgd.norm = RP_NORM_LINF, pgd.steps = 3, pgd.random_init = true;
    const rp_objective_config *cfgs[] = {&erm, &pgd};
    for (int q = 0; q < 2; q++)
        for (int empty = 0; empty < 2; empty++) { /* empty: the last rank's piece is empty */
            rp_model *whole = model(ctx), *part = model(ctx);
            rp_step_stats sw, sp;
            step(ctx, whole, cfgs[q], NULL, x, y, idx, 0, BG, &sw);
            int P = empty && N > 1 ? N - 1 : N; /* ranks with a piece */
            int lo = R < P ? BG * R / P : BG, hi = R < P ? BG * (R + 1) / P : BG;
            step(ctx, part, cfgs[q], d, x, y, idx, lo, hi, &sp);
            for (int i = 0; i < whole->g.n_params; i++) {
                const rp_param *a = &whole->g.params[i], *b = &part->g.params[i];
                double num = 0, den = 0;
                for (size_t k = 0; k < a->numel; k++) {
                    double e = fabs((double)a->grad[k] - b->grad[k]);
                    num = e > num ? e : num;
                    den = fabs(a->grad[k]) > den ? fabs(a->grad[k]) : den;
                }
                if (num > 1e-5 * den + 1e-12)
                    fail_msg("objective %d, rank %d of %d: %s gradient off by %.3g of its largest %.3g", q, R, N,
                             a->name, num, den);
            }
            assert_int_equal(sp.correct, sw.correct);
            assert_true(fabsf(sp.loss - sw.loss) <= 1e-5f * fabsf(sw.loss));
            rp_model_destroy(whole), rp_model_destroy(part);
        }
    rp_dist_destroy(d);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_pieces_sum_to_the_batch)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
