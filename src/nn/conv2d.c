/* Conv2d layer: y = conv(x, weight) + bias, NHWC, weight (OC, IC/groups, K, K) stored OHWI.
 * Initialised as PyTorch's nn.Conv2d: kaiming_uniform(a=sqrt(5)) for the weight, which is
 * U(+-1/sqrt(fan_in)), and U(+-1/sqrt(fan_in)) for the bias; fan_in = IC/groups * K * K. */
#include <math.h>
#include <string.h>

#include "kernels/activation.h"
#include "kernels/conv2d.h"
#include "kernels/pwbn.h"
#include "nn/chain.h"
#include "nn/fused.h"
#include "nn/graph.h"

typedef struct conv_state {
    int OC, K, stride, pad, groups;
    bool bias;
} conv_state;

static conv2d_shape shape_of(const rp_node *n, int B)
{
    const conv_state *st = n->state;
    rp_shape in = n->in_shape[0];
    return conv2d_shape_make(B, in.H, in.W, in.C, st->OC, st->K, st->stride, st->pad, st->groups);
}

static size_t rows_of(const rp_node *n, int B) { return (size_t)B * n->out_shape.H * n->out_shape.W; }

static size_t conv_scratch(const rp_node *n, int B)
{
    conv2d_shape s = shape_of(n, B);
    return conv2d_scratch_floats(&s);
}

void rp_conv2d_forward_to(rp_node *n, const rp_pass *p, float *y, const conv_epilogue *e)
{
    const conv_state *st = n->state;
    conv2d_shape s = shape_of(n, p->B);
    conv2d_forward(y, n->x[0], n->param[0].data, st->bias ? n->param[1].data : NULL, &s, n->scratch, e);
}

static void conv_fwd(rp_node *n, const rp_pass *p) { rp_conv2d_forward_to(n, p, n->y, NULL); }

bool rp_conv2d_forms_sums(const rp_node *n)
{
    conv2d_shape s = shape_of(n, 1);
    return conv2d_forms_sums(&s);
}

/* The training fold (kernels/pwbn.h): a pointwise one-group conv that widens its input (OC >= 2 C:
 * MobileNetV2's expand convs); it keeps its input's moments (doubles) in the step's memory. */
static bool can_train_fold(const rp_node *n)
{
    const conv_state *st = n->state;
    return st->K == 1 && st->stride == 1 && st->pad == 0 && st->groups == 1 && st->OC >= 2 * n->in_shape[0].C;
}

bool rp_conv2d_bn_train_applies(const rp_node *n, int B, bool always)
{
    return can_train_fold(n) && (always || B == 0 || pwbn_worth(rows_of(n, B), n->in_shape[0].C, n->out_shape.C));
}

size_t rp_conv2d_bn_train_mem_floats(const rp_node *n) { return 2 * pwbn_moment_doubles(n->in_shape[0].C); }

/* The fused path's scratch: pwbn's floats, then its doubles from a 64-byte boundary. */
static size_t pwbn_floats(const rp_node *n) { return pwbn_scratch_floats(n->in_shape[0].C, n->out_shape.C); }
/* its doubles after the larger of the backward's floats and the moments' */
static double *pwbn_work(const rp_node *n, int B)
{
    size_t f = pwbn_floats(n), mf = pwbn_moment_floats(rows_of(n, B), n->in_shape[0].C);
    return (double *)(n->scratch + (((f > mf ? f : mf) + 15) & ~(size_t)15));
}

size_t rp_conv2d_bn_train_scratch_floats(const rp_node *n, int B)
{
    size_t N = rows_of(n, B), C = (size_t)n->in_shape[0].C;
    size_t work = 2 * pwbn_work_doubles(N, (int)C, n->out_shape.C), floats = pwbn_floats(n);
    if (pwbn_moment_floats(N, (int)C) > floats) floats = pwbn_moment_floats(N, (int)C);
    return ((floats + 15) & ~(size_t)15) + work;
}

void rp_conv2d_bn_train_stats(rp_node *n, int B, float *mem, double *mean, double *var)
{
    const conv_state *st = n->state;
    int C = n->in_shape[0].C;
    pwbn_moments((double *)mem, n->x[0], rows_of(n, B), C, pwbn_work(n, B), n->scratch);
    pwbn_stats(mean, var, (double *)mem, n->param[0].data, st->bias ? n->param[1].data : NULL, C, st->OC);
}

/* A parameter's gradient buffer when this pass accumulates it, else NULL. */
static float *grad_if_wanted(const rp_param *prm, const rp_pass *p)
{
    return p->param_grads && prm->trainable && !prm->frozen ? prm->grad : NULL;
}

void rp_conv2d_bn_train_backward(rp_node *n, const rp_pass *p, const rp_fold_grads *f, const float *mem)
{
    const conv_state *st = n->state;
    float *dw = grad_if_wanted(&n->param[0], p);
    float *db = st->bias ? grad_if_wanted(&n->param[1], p) : NULL;
    pwbn_grads d = {.dx = n->dx[0], .dw = dw, .db = db, .dgamma = f->dgamma, .dbeta = f->dbeta,
                    .acc_dx = !n->dx_write[0]};
    pwbn_backward(&d, f->g, f->bits, n->x[0], n->param[0].data, f->gamma, f->invstd, (const double *)mem,
                  rows_of(n, p->B), n->in_shape[0].C, st->OC, n->scratch, pwbn_work(n, p->B));
}

bool rp_conv2d_dw_bn_applies(const rp_node *n)
{
    const conv_state *st = n->state;
    conv2d_shape s = shape_of(n, 1);
    return !st->bias && dwconv2d_fast_bn_applies(&s);
}

size_t rp_conv2d_dw_bn_scratch_floats(const rp_node *n, int B, int threads)
{
    conv2d_shape s = shape_of(n, B);
    return dwconv2d_fast_bn_scratch_floats(&s, threads);
}

void rp_conv2d_dw_bn_backward(rp_node *n, const rp_pass *p, const dw_bn_grad *g, float *scratch, int threads)
{
    float *dw = grad_if_wanted(&n->param[0], p);
    if (!n->dx[0] && !dw) return;
    conv2d_shape s = shape_of(n, p->B);
    dwconv2d_fast_backward_bn(n->dx[0], dw, g, n->x[0], n->param[0].data, &s, scratch, threads, !n->dx_write[0]);
}

static void conv_bwd(rp_node *n, const rp_pass *p)
{
    const conv_state *st = n->state;
    float *dw = grad_if_wanted(&n->param[0], p);
    float *db = st->bias ? grad_if_wanted(&n->param[1], p) : NULL;
    if (!n->dx[0] && !dw && !db) return;
    conv2d_shape s = shape_of(n, p->B);
    conv2d_backward(n->dx[0], dw, db, n->dy, n->x[0], n->param[0].data, &s, n->scratch, !n->dx_write[0]);
}

static const rp_layer_ops conv_ops;

bool rp_conv2d_describe(const rp_node *n, int B, conv2d_shape *s, const float **w, const float **b)
{
    if (n->ops != &conv_ops) return false;
    const conv_state *st = n->state;
    *s = shape_of(n, B);
    *w = n->param[0].data;
    *b = st->bias ? n->param[1].data : NULL;
    return true;
}

static const rp_layer_ops conv_ops = {.kind = RP_LAYER_CONV2D, .name = "conv2d", .scratch_floats = conv_scratch, .forward = conv_fwd,
                                      .backward = conv_bwd};

int rp_g_conv2d(rp_graph *g, int in, const char *name, int OC, int K, int stride, int pad,
                int groups, bool bias)
{
    if (g->status != RP_OK) return -1;
    rp_shape is = rp_graph_shape(g, in);
    if (strlen(name) + sizeof ".weight" > sizeof g->params[0].name) {
        g->status = rp_fail(g->ctx, RP_ERR_ARG, "layer %s (conv2d): name too long", name);
        return -1;
    }
    if (OC < 1 || K < 1 || stride < 1 || pad < 0 || groups < 1) {
        g->status = rp_fail(g->ctx, RP_ERR_ARG,
                            "layer %s (conv2d): bad configuration OC=%d K=%d stride=%d pad=%d "
                            "groups=%d (need OC, K, stride, groups >= 1 and pad >= 0)",
                            name, OC, K, stride, pad, groups);
        return -1;
    }
    if (is.C % groups || OC % groups) {
        g->status = rp_fail(g->ctx, RP_ERR_ARG,
                            "layer %s (conv2d): groups=%d must divide both input channels %d "
                            "and output channels %d", name, groups, is.C, OC);
        return -1;
    }
    rp_shape out = {conv2d_out_size(is.H, K, stride, pad), conv2d_out_size(is.W, K, stride, pad), OC};
    if (out.H < 1 || out.W < 1) {
        g->status = rp_fail(g->ctx, RP_ERR_SHAPE,
                            "layer %s (conv2d): kernel %d with pad %d does not fit input %dx%d",
                            name, K, pad, is.H, is.W);
        return -1;
    }
    conv_state st = {OC, K, stride, pad, groups, bias};
    int node = rp_graph_add(g, &conv_ops, name, &in, 1, out, &st, sizeof st);
    if (node < 0) return -1;
    int ICg = is.C / groups;
    float bound = 1.0f / sqrtf((float)ICg * K * K);
    char pname[64];
    int64_t wshape[4] = {OC, ICg, K, K};
    snprintf(pname, sizeof pname, "%s.weight", name);
    if (rp_graph_param(g, pname, 4, wshape, RP_LAYOUT_OHWI, true, RP_INIT_UNIFORM, bound) < 0)
        return -1;
    if (bias) {
        int64_t bshape[1] = {OC};
        snprintf(pname, sizeof pname, "%s.bias", name);
        if (rp_graph_param(g, pname, 1, bshape, RP_LAYOUT_TORCH, true, RP_INIT_UNIFORM, bound) < 0)
            return -1;
    }
    return node;
}
