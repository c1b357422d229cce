/* BatchNorm2d over NHWC activations: per channel over B*H*W values. Training normalises
 * with batch statistics and updates the running ones (momentum, unbiased variance,
 * num_batches_tracked += 1, as PyTorch); evaluation uses the running statistics. Backward
 * works in both modes (attacks differentiate the evaluation-mode affine map).
 * Parameters weight (C, ones), bias (C, zeros); buffers running_mean (C, zeros),
 * running_var (C, ones), num_batches_tracked (scalar, I64 in checkpoints). */
#include <string.h>

#include "kernels/actmask.h"
#include "kernels/batchnorm.h"
#include "nn/graph.h"

enum { BN_WEIGHT, BN_BIAS, BN_RMEAN, BN_RVAR, BN_COUNT };

typedef struct bn_state {
    float eps, momentum;
    float kept_momentum; /* the layer's own, while rp_graph_bn_adapt has set momentum 1 */
    bool bits_valid; /* the last forward (training, with its ReLU/ReLU6) wrote the mask bits */
} bn_state;

static size_t rows(const rp_node *n, int B) { return (size_t)B * n->out_shape.H * n->out_shape.W; }

/* Bytes of the activation mask a batch norm with a fused ReLU/ReLU6 keeps for its backward. */
static size_t mask_bytes(const rp_node *n, int B)
{
    return n->act_node < 0 ? 0 : rows(n, B) * act_mask_row_bytes(n->out_shape.C);
}

/* mean[C] then invstd[C] of the last forward, then the mask bits */
static size_t bn_saved(const rp_node *n, int B)
{
    return (size_t)2 * n->out_shape.C + (mask_bytes(n, B) + 3) / 4;
}

static uint8_t *bits_of(const rp_node *n) { return (uint8_t *)(n->saved + 2 * (size_t)n->out_shape.C); }

static size_t bn_scratch(const rp_node *n, int B)
{
    return 2 * batchnorm_work_doubles(n->out_shape.C, (size_t)B); /* doubles in floats; arena is 64-aligned */
}

static void bn_fwd(rp_node *n, const rp_pass *p)
{
    bn_state *s = n->state;
    int C = n->out_shape.C;
    rp_param *P = n->param;
    float *mean = n->saved, *invstd = n->saved + C;
    /* with a fused ReLU/ReLU6 (n->act), the activation's output is written instead */
    float *y = n->act ? n->act_y : n->y;
    int act = n->act == RP_ACT_RELU6 ? BN_ACT_RELU6 : n->act == RP_ACT_RELU ? BN_ACT_RELU : BN_ACT_NONE;
    if (p->train) {
        batchnorm_forward_train_ex(y, mean, invstd, P[BN_RMEAN].data, P[BN_RVAR].data, n->x[0],
                                   P[BN_WEIGHT].data, P[BN_BIAS].data, rows(n, p->B), C,
                                   (size_t)n->out_shape.H * n->out_shape.W, s->eps, s->momentum,
                                   (double *)n->scratch, act, n->sums_in, act ? bits_of(n) : NULL);
        s->bits_valid = act != BN_ACT_NONE;
        P[BN_COUNT].data[0] += 1.0f;
    } else {
        s->bits_valid = false;
        batchnorm_forward_eval_ex(y, mean, invstd, P[BN_RMEAN].data, P[BN_RVAR].data, n->x[0],
                                  P[BN_WEIGHT].data, P[BN_BIAS].data, rows(n, p->B), C, s->eps, act);
    }
}

/* The conv before this node does its evaluation forward: mean/invstd kept as the forward keeps them. */
static void bn_fold_eval(rp_node *n, rp_fold *f)
{
    const bn_state *s = n->state;
    int C = n->out_shape.C;
    rp_param *P = n->param;
    batchnorm_eval_stats(n->saved, n->saved + C, P[BN_RMEAN].data, P[BN_RVAR].data, C, s->eps);
    *f = (rp_fold){.mean = n->saved, .invstd = n->saved + C, .gamma = P[BN_WEIGHT].data, .beta = P[BN_BIAS].data};
}

static void bn_bwd(rp_node *n, const rp_pass *p)
{
    int C = n->out_shape.C;
    rp_param *w = &n->param[BN_WEIGHT], *b = &n->param[BN_BIAS];
    float *dw = p->param_grads && !w->frozen ? w->grad : NULL;
    float *db = p->param_grads && !b->frozen ? b->grad : NULL;
    /* n->act_dy: the ReLU/ReLU6 after this node left its backward to it (its mask from act_y) */
    int act = !n->act_dy ? BN_ACT_NONE : n->act == RP_ACT_RELU6 ? BN_ACT_RELU6 : BN_ACT_RELU;
    const bn_state *s = n->state;
    const uint8_t *bits = act && p->train && s->bits_valid ? bits_of(n) : NULL; /* the mask, 1/32 of act_y */
    batchnorm_backward_act(n->dx[0], dw, db, act ? n->act_dy : n->dy, n->act_y, bits, act, n->x[0], n->saved,
                           n->saved + C, w->data, rows(n, p->B), C, p->train, (double *)n->scratch,
                           !n->dx_write[0]);
}

/* The conv before did this batch norm in training (kernels/pwbn.h): the batch statistics of
 * its output, which it never wrote. */
static void bn_train_fold(rp_node *n, const double *mean_d, const double *var_d, size_t N, rp_fold *f, uint8_t **bits)
{
    bn_state *s = n->state;
    int C = n->out_shape.C;
    rp_param *P = n->param;
    float *mean = n->saved, *invstd = n->saved + C;
    for (int c = 0; c < C; c++)
        batchnorm_train_channel(&mean[c], &invstd[c], &P[BN_RMEAN].data[c], &P[BN_RVAR].data[c], mean_d[c], var_d[c],
                                N, s->eps, s->momentum);
    P[BN_COUNT].data[0] += 1.0f;
    s->bits_valid = n->act != RP_ACT_NONE;
    *bits = s->bits_valid ? bits_of(n) : NULL;
    *f = (rp_fold){.mean = mean, .invstd = invstd, .gamma = P[BN_WEIGHT].data, .beta = P[BN_BIAS].data};
}

/* ... and does its backward too: the gradient of this node's output, or of its ReLU/ReLU6's
 * (n->act_dy, the act's backward left to this node) with the mask from the forward's bits. */
static void bn_train_fold_grads(rp_node *n, const rp_pass *p, rp_fold_grads *out)
{
    const bn_state *s = n->state;
    rp_param *w = &n->param[BN_WEIGHT], *b = &n->param[BN_BIAS];
    RP_ASSERT(!n->act_dy || s->bits_valid);
    *out = (rp_fold_grads){
        .g = n->act_dy ? (float *)n->act_dy : n->dy, /* the act's gradient: nobody reads it after this */
        .bits = n->act_dy ? bits_of(n) : NULL,
        .gamma = w->data,
        .invstd = n->saved + n->out_shape.C,
        .dgamma = p->param_grads && !w->frozen ? w->grad : NULL,
        .dbeta = p->param_grads && !b->frozen ? b->grad : NULL,
    };
}

static const rp_layer_ops bn_ops = {.kind = "batchnorm2d", .saved_floats = bn_saved,
                                    .scratch_floats = bn_scratch, .forward = bn_fwd,
                                    .backward = bn_bwd, .writes_dx = true, .fuses_act = true,
                                    .fuses_own_act_bwd = true, .fold_eval = bn_fold_eval, .takes_sums = true,
                                    .train_fold = bn_train_fold, .train_fold_grads = bn_train_fold_grads};

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
