/* efficientnet_b0: torchvision 0.14's EfficientNet-B0 (Tan & Le 2019), same layers, same
 * state_dict keys and shapes, same initialisation, behind rampart's normalisation layer.
 *
 *   features.0       3x3 conv stride 2 -> 32, BN, SiLU
 *   features.1..7    stages of MBConv blocks features.i.j, (t, k, s, in, out, n) from STAGES:
 *                      block.0   1x1 expand to in*t, BN, SiLU              (only when t != 1)
 *                      block.k   kxk depthwise, stride s (first block of a stage), BN, SiLU
 *                      block.k+1 squeeze-and-excitation: avgpool, fc1 (1x1 conv to
 *                                max(1, in/4), bias), SiLU, fc2 (1x1 conv back, bias),
 *                                sigmoid, times the block's input
 *                      block.k+2 1x1 project to out, BN                     (no activation)
 *                      + input after stochastic depth, iff stride 1 and in == out
 *   features.8       1x1 conv -> 4 * 320 = 1280, BN, SiLU
 *   avgpool, flatten, classifier.0 dropout 0.2, classifier.1 linear
 * B0 is width and depth 1.0: torchvision's rounding of channels (to multiples of 8) and
 * layers (ceil) leaves the table as it is. Stochastic depth's p grows linearly over the 16
 * blocks, 0.2 * block / 16 (block counted from 0); only residual blocks apply it.
 *
 * Node names follow torchvision's module paths ("features.2.0.block.1.0" is the depthwise conv
 * of stage 2's first block, "features.2.0.block.2" the SE's multiply); a residual block's add
 * is named after the block ("features.2.1"), its stochastic depth "features.2.1.stochastic_depth".
 *
 * Init as torchvision: conv weights N(0, 2/fan_out), fan_out = OC*K*K (kaiming_normal_, mode
 * fan_out; depthwise [C,1,k,k]: k*k*C), conv biases 0, BatchNorm weight 1, bias 0 (eps 1e-5,
 * momentum 0.1: B0 keeps nn.BatchNorm2d's defaults), linear U(-1/sqrt(classes), +1/sqrt(classes)),
 * bias 0. */
#include <math.h>
#include <stdio.h>

#include "nn/model.h"

#define BN_EPS 1e-5f
#define BN_MOMENTUM 0.1f
#define SD_PROB 0.2f

static const struct { int t, k, s, in, out, n; } STAGES[] = {
    {1, 3, 1, 32, 16, 1},  {6, 3, 2, 16, 24, 2},   {6, 5, 2, 24, 40, 2},   {6, 3, 2, 40, 80, 3},
    {6, 5, 1, 80, 112, 3}, {6, 5, 2, 112, 192, 4}, {6, 3, 1, 192, 320, 1},
};
#define N_STAGES ((int)(sizeof STAGES / sizeof STAGES[0]))

/* Sets the initialisation of a just-added node's parameters: weight N(0, 2/fan_out), bias 0. */
static void init_conv(rp_graph *g, int node)
{
    if (node < 0) return;
    rp_param *p = &g->params[g->nodes[node].first_param];
    p[0].init = RP_INIT_NORMAL;
    p[0].init_scale = sqrtf(2.0f / (float)(p[0].shape[0] * p[0].shape[2] * p[0].shape[3]));
    if (g->nodes[node].n_params > 1) p[1].init = RP_INIT_ZERO;
}

/* name.0 conv (no bias, padding (K-1)/2), name.1 BN, name.2 SiLU when act. Returns the last node. */
static int conv_bn(rp_graph *g, int x, const char *name, int OC, int K, int stride, int groups, bool act)
{
    char conv[64], bn[64], silu[64];
    snprintf(conv, sizeof conv, "%s.0", name);
    snprintf(bn, sizeof bn, "%s.1", name);
    snprintf(silu, sizeof silu, "%s.2", name);
    x = rp_g_conv2d(g, x, conv, OC, K, stride, (K - 1) / 2, groups, false);
    init_conv(g, x);
    x = rp_g_batchnorm2d(g, x, bn, BN_EPS, BN_MOMENTUM);
    return act ? rp_g_silu(g, x, silu) : x;
}

/* torchvision.ops.SqueezeExcitation(C, S, activation=SiLU) under name: x * sigmoid(fc2(silu(fc1(pool(x))))) */
static int squeeze_excitation(rp_graph *g, int x, const char *name, int C, int S)
{
    char n[96]; /* the names are short; room for the suffix silences truncation warnings */
    snprintf(n, sizeof n, "%s.avgpool", name);
    int s = rp_g_global_avgpool(g, x, n);
    snprintf(n, sizeof n, "%s.fc1", name);
    s = rp_g_conv2d(g, s, n, S, 1, 1, 0, 1, true);
    init_conv(g, s);
    snprintf(n, sizeof n, "%s.activation", name);
    s = rp_g_silu(g, s, n);
    snprintf(n, sizeof n, "%s.fc2", name);
    s = rp_g_conv2d(g, s, n, C, 1, 1, 0, 1, true);
    init_conv(g, s);
    snprintf(n, sizeof n, "%s.scale_activation", name);
    s = rp_g_sigmoid(g, s, n);
    return rp_g_channel_mul(g, x, s, name);
}

/* features.<stage>.<j>: one MBConv block; sd_p its stochastic depth. */
static int mbconv(rp_graph *g, int x, int stage, int j, int IN, int OUT, int K, int stride, int t, float sd_p)
{
    char name[64];
    int hidden = IN * t, k = 0, y = x;
    if (hidden != IN) {
        snprintf(name, sizeof name, "features.%d.%d.block.%d", stage, j, k++);
        y = conv_bn(g, y, name, hidden, 1, 1, 1, true);
    }
    snprintf(name, sizeof name, "features.%d.%d.block.%d", stage, j, k++);
    y = conv_bn(g, y, name, hidden, K, stride, hidden, true);
    snprintf(name, sizeof name, "features.%d.%d.block.%d", stage, j, k++);
    y = squeeze_excitation(g, y, name, hidden, IN / 4 > 1 ? IN / 4 : 1);
    snprintf(name, sizeof name, "features.%d.%d.block.%d", stage, j, k);
    y = conv_bn(g, y, name, OUT, 1, 1, 1, false);
    if (stride != 1 || IN != OUT) return y;
    snprintf(name, sizeof name, "features.%d.%d.stochastic_depth", stage, j);
    y = rp_g_stochastic_depth(g, y, name, sd_p);
    snprintf(name, sizeof name, "features.%d.%d", stage, j);
    return rp_g_add(g, y, x, name);
}

int rp_build_efficientnet_b0_opts(rp_graph *g, const rp_model_config *cfg, float dropout, float sd_prob)
{
    if (cfg->width != 0.0f && cfg->width != 1.0f) {
        g->status = rp_fail(g->ctx, RP_ERR_ARG, "model efficientnet_b0: width %g (B0 has width 1)", (double)cfg->width);
        return -1;
    }
    int x = rp_g_normalize(g, RP_INPUT, "normalize", cfg->mean, cfg->std);
    x = conv_bn(g, x, "features.0", STAGES[0].in, 3, 2, 1, true);
    int blocks = 0, block = 0;
    for (int s = 0; s < N_STAGES; s++) blocks += STAGES[s].n;
    for (int s = 0; s < N_STAGES; s++)
        for (int j = 0; j < STAGES[s].n; j++, block++) {
            int IN = j == 0 ? STAGES[s].in : STAGES[s].out, stride = j == 0 ? STAGES[s].s : 1;
            float p = (float)((double)sd_prob * block / blocks); /* as Python's float, then rounded once */
            x = mbconv(g, x, s + 1, j, IN, STAGES[s].out, STAGES[s].k, stride, STAGES[s].t, p);
        }
    char name[64];
    snprintf(name, sizeof name, "features.%d", N_STAGES + 1);
    x = conv_bn(g, x, name, 4 * STAGES[N_STAGES - 1].out, 1, 1, 1, true);
    return rp_build_pooled_classifier(g, x, cfg->num_classes, dropout, RP_INIT_UNIFORM,
                                      1.0f / sqrtf((float)cfg->num_classes));
}

int rp_build_efficientnet_b0(rp_graph *g, const rp_model_config *cfg)
{
    return rp_build_efficientnet_b0_opts(g, cfg, 0.2f, SD_PROB);
}
