/* BatchNorm2d over NHWC activations: per channel over B*H*W values. Training normalises
 * with batch statistics and updates the running ones (momentum, unbiased variance,
 * num_batches_tracked += 1, as PyTorch); evaluation uses the running statistics. Backward
 * works in both modes (attacks differentiate the evaluation-mode affine map).
 * Parameters weight (C, ones), bias (C, zeros); buffers running_mean (C, zeros),
 * running_var (C, ones), num_batches_tracked (scalar, I64 in checkpoints). */
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "kernels/actmask.h"
#include "kernels/batchnorm.h"
#include "nn/fused.h"
#include "nn/graph.h"

enum { BN_WEIGHT, BN_BIAS, BN_RMEAN, BN_RVAR, BN_COUNT };

typedef struct bn_state {
    float eps, momentum;
    float kept_momentum; /* the layer's own, while rp_graph_bn_adapt has set momentum 1 */
    double rows_all;     /* under a dist: the job's rows in the last training forward */
} bn_state;

static size_t rows(const rp_node *n, int B) { return (size_t)B * n->out_shape.H * n->out_shape.W; }

size_t rp_bn_mask_floats(const rp_node *n, int B)
{
    return (rows(n, B) * act_mask_row_bytes(n->out_shape.C) + 3) / 4;
}

/* mean[C] then invstd[C] of the last forward */
static size_t bn_saved(const rp_node *n, int B)
{
    (void)B;
    return (size_t)2 * n->out_shape.C;
}

static size_t bn_scratch(const rp_node *n, int B)
{
    return 2 * batchnorm_work_doubles(n->out_shape.C, (size_t)B); /* doubles in floats; arena is 64-aligned */
}

/* ---- data-parallel batch statistics (rp_graph_set_dist) ------------------------------------
 * Forward: each process's rows give count, mean and M2 per channel (double, around its own
 * shift as one process's forward forms them); every process gathers all of them and combines
 * them in rank order (Chan, Golub and LeVeque's pairwise update), so every process gets the
 * same bits whatever the timing. Backward: the per-channel sums of the gradient and of the
 * gradient times (x - mean) -- around the job's mean, the same on every process -- are summed
 * over the processes in rank order, each weighted by its share of the rows: a process's
 * gradients are of its piece's mean loss, and the objective weights them by the same share. */

static void sync_fail(rp_bn_sync *q, rp_status st)
{
    if (q->status == RP_OK) q->status = st;
}

static void forward_train_dist(rp_node *n, const rp_pass *p, float *y, act_kind act, const double *sums,
                               uint8_t *bits)
{
    bn_state *s = n->state;
    int C = n->out_shape.C;
    rp_param *P = n->param;
    rp_bn_sync *q = p->sync;
    size_t N = rows(n, p->B), L = 1 + 2 * (size_t)C;
    double *mine = q->buf, *all = q->buf + L;
    int R = rp_dist_size(q->dist);
    mine[0] = (double)N;
    if (N > 0)
        batchnorm_moments(mine + 1, mine + 1 + C, n->x[0], N, C, (size_t)n->out_shape.H * n->out_shape.W, sums,
                          (double *)n->scratch);
    else
        for (size_t k = 1; k < L; k++) mine[k] = 0.0;
    if (q->status == RP_OK) sync_fail(q, rp_dist_allgather(q->dist, mine, L * sizeof *mine, all, NULL));
    if (q->status != RP_OK) memcpy(all, mine, L * sizeof *mine), R = 1; /* the step fails; stay finite */
    double *gm = mine + 1, *gm2 = mine + 1 + C, cnt = 0.0; /* the job's, combined in rank order */
    for (size_t k = 1; k < L; k++) mine[k] = 0.0;
    for (int r = 0; r < R; r++) {
        const double *o = all + (size_t)r * L;
        double nb = o[0], tot = cnt + nb;
        if (nb == 0.0) continue;
        for (int c = 0; c < C; c++) {
            double delta = o[1 + c] - gm[c];
            gm[c] += delta * (nb / tot);
            gm2[c] += o[1 + C + c] + delta * delta * (cnt * nb / tot);
        }
        cnt = tot;
    }
    s->rows_all = cnt;
    float *mean = n->saved, *invstd = n->saved + C;
    if (cnt > 0.0)
        for (int c = 0; c < C; c++)
            batchnorm_train_channel(&mean[c], &invstd[c], &P[BN_RMEAN].data[c], &P[BN_RVAR].data[c], gm[c],
                                    gm2[c] / cnt, (size_t)cnt, s->eps, s->momentum);
    P[BN_COUNT].data[0] += 1.0f;
    if (N > 0)
        batchnorm_normalise(y, n->x[0], mean, invstd, P[BN_WEIGHT].data, P[BN_BIAS].data, N, C, act,
                            act ? bits : NULL);
}

/* The gradient's sums over the job's rows into work's first 2C doubles when an input gradient
 * follows (want_dx; this process's parameter gradients from its own sums); false when none does. */
static bool grad_sums_dist(rp_node *n, const rp_pass *p, const float *dy, act_kind act, const float *act_y,
                           const uint8_t *bits, float *dw, float *db, bool want_dx)
{
    const bn_state *s = n->state;
    int C = n->out_shape.C;
    rp_bn_sync *q = p->sync;
    double *work = (double *)n->scratch, *job = q->buf;
    const float *mean = n->saved, *invstd = n->saved + C;
    size_t N = rows(n, p->B);
    if (N > 0) {
        batchnorm_grad_sums(work, dy, act_y, act ? bits : NULL, act, n->x[0], mean, N, C);
        batchnorm_param_grads(dw, db, work, invstd, C);
    } else {
        for (int c = 0; c < 2 * C; c++) work[c] = 0.0;
    }
    double share = s->rows_all > 0.0 ? (double)N / s->rows_all : 0.0;
    for (int c = 0; c < 2 * C; c++) job[c] = work[c] * share;
    if (q->status == RP_OK) sync_fail(q, rp_dist_sum_f64(q->dist, job, 2 * (size_t)C));
    if (!want_dx || N == 0) return false;
    if (q->status == RP_OK) memcpy(work, job, 2 * (size_t)C * sizeof *work);
    return true;
}

static void backward_train_dist(rp_node *n, const rp_pass *p, const float *dy, act_kind act, const float *act_y,
                                const uint8_t *bits, float *dw, float *db)
{
    int C = n->out_shape.C;
    double *work = (double *)n->scratch;
    const float *mean = n->saved, *invstd = n->saved + C;
    size_t N = rows(n, p->B);
    if (!grad_sums_dist(n, p, dy, act, act_y, bits, dw, db, n->dx[0] != NULL)) return;
    batchnorm_backward_dx(n->dx[0], dy, act_y, act ? bits : NULL, act, n->x[0], mean, invstd, n->param[BN_WEIGHT].data,
                          N, C, true, dw || db, (double)N, work, !n->dx_write[0]);
}

void rp_bn_forward_act(rp_node *n, const rp_pass *p, float *y, act_kind act, const double *sums, uint8_t *bits)
{
    bn_state *s = n->state;
    int C = n->out_shape.C;
    rp_param *P = n->param;
    float *mean = n->saved, *invstd = n->saved + C;
    if (p->train && p->sync) {
        forward_train_dist(n, p, y, act, sums, bits);
    } else if (p->train) {
        batchnorm_forward_train_ex(y, mean, invstd, P[BN_RMEAN].data, P[BN_RVAR].data, n->x[0],
                                   P[BN_WEIGHT].data, P[BN_BIAS].data, rows(n, p->B), C,
                                   (size_t)n->out_shape.H * n->out_shape.W, s->eps, s->momentum,
                                   (double *)n->scratch, act, sums, act ? bits : NULL);
        P[BN_COUNT].data[0] += 1.0f;
    } else {
        batchnorm_forward_eval_ex(y, mean, invstd, P[BN_RMEAN].data, P[BN_RVAR].data, n->x[0],
                                  P[BN_WEIGHT].data, P[BN_BIAS].data, rows(n, p->B), C, s->eps, act);
    }
}

static void bn_fwd(rp_node *n, const rp_pass *p) { rp_bn_forward_act(n, p, n->y, ACT_NONE, NULL, NULL); }

/* The conv before this node does its evaluation forward: mean/invstd kept as the forward keeps them. */
void rp_bn_eval_map(rp_node *n, conv_bn *f)
{
    const bn_state *s = n->state;
    int C = n->out_shape.C;
    rp_param *P = n->param;
    batchnorm_eval_stats(n->saved, n->saved + C, P[BN_RMEAN].data, P[BN_RVAR].data, C, s->eps);
    *f = (conv_bn){.mean = n->saved, .invstd = n->saved + C, .gamma = P[BN_WEIGHT].data, .beta = P[BN_BIAS].data};
}

void rp_bn_backward_act(rp_node *n, const rp_pass *p, const float *dy, act_kind act, const float *act_y,
                        const uint8_t *bits)
{
    int C = n->out_shape.C;
    rp_param *w = &n->param[BN_WEIGHT], *b = &n->param[BN_BIAS];
    float *dw = p->param_grads && !w->frozen ? w->grad : NULL;
    float *db = p->param_grads && !b->frozen ? b->grad : NULL;
    if (p->train && p->sync) {
        backward_train_dist(n, p, dy, act, act_y, bits, dw, db);
        return;
    }
    batchnorm_backward_act(n->dx[0], dw, db, dy, act_y, act ? bits : NULL, act, n->x[0], n->saved, n->saved + C,
                           w->data, rows(n, p->B), C, p->train, (double *)n->scratch, !n->dx_write[0]);
}

void rp_bn_backward_map(rp_node *n, const rp_pass *p, const float *dy, act_kind act, const uint8_t *bits,
                        dw_bn_grad *g)
{
    int C = n->out_shape.C;
    rp_param *w = &n->param[BN_WEIGHT], *b = &n->param[BN_BIAS];
    float *dw = p->param_grads && !w->frozen ? w->grad : NULL;
    float *db = p->param_grads && !b->frozen ? b->grad : NULL;
    double *work = (double *)n->scratch;
    const float *invstd = n->saved + C;
    RP_ASSERT(p->train && act != ACT_NONE && bits);
    size_t N = rows(n, p->B);
    if (p->sync) {
        grad_sums_dist(n, p, dy, act, NULL, bits, dw, db, true);
    } else {
        batchnorm_grad_sums(work, dy, NULL, bits, act, n->x[0], n->saved, N, C);
        batchnorm_param_grads(dw, db, work, invstd, C);
    }
    *g = (dw_bn_grad){.g = dy, .y = n->x[0], .mean = n->saved, .bits = bits,
                      .k = batchnorm_dx_coeffs(work, invstd, w->data, C, true, (double)N)};
}

size_t rp_bn_map_floats(const rp_node *n, int B) { return (bn_scratch(n, B) + 15) & ~(size_t)15; }

static void bn_bwd(rp_node *n, const rp_pass *p) { rp_bn_backward_act(n, p, n->dy, ACT_NONE, NULL, NULL); }

/* The conv before did this batch norm in training (kernels/pwbn.h): the batch statistics of
 * its output, which it never wrote. */
void rp_bn_train_from_stats(rp_node *n, const double *mean_d, const double *var_d, size_t N, conv_bn *f)
{
    bn_state *s = n->state;
    int C = n->out_shape.C;
    rp_param *P = n->param;
    float *mean = n->saved, *invstd = n->saved + C;
    for (int c = 0; c < C; c++)
        batchnorm_train_channel(&mean[c], &invstd[c], &P[BN_RMEAN].data[c], &P[BN_RVAR].data[c], mean_d[c], var_d[c],
                                N, s->eps, s->momentum);
    P[BN_COUNT].data[0] += 1.0f;
    *f = (conv_bn){.mean = mean, .invstd = invstd, .gamma = P[BN_WEIGHT].data, .beta = P[BN_BIAS].data};
}

void rp_bn_fold_grads(rp_node *n, const rp_pass *p, float *g, const uint8_t *bits, rp_fold_grads *out)
{
    rp_param *w = &n->param[BN_WEIGHT], *b = &n->param[BN_BIAS];
    *out = (rp_fold_grads){
        .g = g,
        .bits = bits,
        .gamma = w->data,
        .invstd = n->saved + n->out_shape.C,
        .dgamma = p->param_grads && !w->frozen ? w->grad : NULL,
        .dbeta = p->param_grads && !b->frozen ? b->grad : NULL,
    };
}

static const rp_layer_ops bn_ops = {.kind = RP_LAYER_BATCHNORM2D, .name = "batchnorm2d", .saved_floats = bn_saved, .scratch_floats = bn_scratch,
                                    .forward = bn_fwd, .backward = bn_bwd};

int rp_g_batchnorm2d(rp_graph *g, int in, const char *name, float eps, float momentum)
{
    if (g->status != RP_OK) return -1;
    if (!(eps > 0.0f) || !(momentum >= 0.0f && momentum <= 1.0f) ||
        strlen(name) + sizeof ".num_batches_tracked" > sizeof g->params[0].name) {
        g->status = rp_fail(g->ctx, RP_ERR_ARG,
                            "layer %s (batchnorm2d): eps %g must be > 0, momentum %g in [0, 1], "
                            "name short enough for its parameter keys",
                            name, (double)eps, (double)momentum);
        return -1;
    }
    rp_shape sh = rp_graph_shape(g, in);
    bn_state s = {.eps = eps, .momentum = momentum};
    int node = rp_graph_add(g, &bn_ops, name, &in, 1, sh, &s, sizeof s);
    if (node < 0) return -1;
    static const struct { const char *suffix; bool trainable; rp_init init; } P[] = {
        {"weight", true, RP_INIT_ONE},        {"bias", true, RP_INIT_ZERO},
        {"running_mean", false, RP_INIT_ZERO}, {"running_var", false, RP_INIT_ONE},
        {"num_batches_tracked", false, RP_INIT_ZERO},
    };
    for (int i = 0; i < 5; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s.%s", name, P[i].suffix);
        int ndim = i == BN_COUNT ? 0 : 1;
        int idx = rp_graph_param(g, key, ndim, (int64_t[]){sh.C}, RP_LAYOUT_TORCH, P[i].trainable,
                                 P[i].init, 0.0f);
        if (idx < 0) return -1;
        if (i == BN_COUNT) g->params[idx].is_int64 = true;
    }
    return node;
}

int rp_graph_bn_adapt(rp_graph *g, bool adapt)
{
    int count = 0;
    g->bn_adapting = adapt;
    for (int i = 0; i < g->n_nodes; i++) {
        rp_node *n = &g->nodes[i];
        if (n->ops != &bn_ops) continue;
        bn_state *s = n->state;
        if (adapt) s->kept_momentum = s->momentum, s->momentum = 1.0f;
        else s->momentum = s->kept_momentum;
        count++;
    }
    return count;
}

rp_status rp_graph_set_dist(rp_graph *g, struct rp_dist *d)
{
    rp_bn_sync *q = &g->bn_sync;
    int Cmax = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].ops == &bn_ops && g->nodes[i].out_shape.C > Cmax) Cmax = g->nodes[i].out_shape.C;
    if (q->dist) g->options = g->options_own;
    free(q->buf);
    *q = (rp_bn_sync){0};
    if (!d || rp_dist_size(d) == 1 || Cmax == 0) return RP_OK;
    size_t L = 1 + 2 * (size_t)Cmax;
    q->buf = malloc((1 + (size_t)rp_dist_size(d)) * L * sizeof *q->buf);
    if (!q->buf) return rp_fail(g->ctx, RP_ERR_NOMEM, "batch norm over %d processes: out of memory", rp_dist_size(d));
    q->dist = d;
    g->options_own = g->options;
    g->options |= RP_OPT_NO_TRAIN_FOLD; /* the fold forms the statistics inside the conv */
    return RP_OK;
}

rp_status rp_graph_sync_status(rp_graph *g)
{
    rp_status st = g->bn_sync.status;
    g->bn_sync.status = RP_OK;
    return st;
}
