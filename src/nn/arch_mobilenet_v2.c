/* mobilenet_v2: torchvision 0.14's MobileNetV2 (Sandler et al. 2018), same layers, same
 * state_dict keys and shapes, same initialisation, behind rampart's normalisation layer.
 *
 *   features.0       3x3 conv stride 2 -> 32*w, BN, ReLU6
 *   features.1..17   inverted residual blocks, (t, c, n, s) from SETTINGS below:
 *                      conv.0   1x1 expand to hidden = in*t, BN, ReLU6     (only when t != 1)
 *                      conv.k   3x3 depthwise, stride s, BN, ReLU6
 *                      conv.k+1 1x1 project to c*w, conv.k+2 BN           (no activation)
 *                      + input, iff stride 1 and in == out channels
 *   features.18      1x1 conv -> 1280*max(1, w), BN, ReLU6
 *   avgpool, flatten, classifier.0 dropout 0.2, classifier.1 linear
 * Channel counts go through make_divisible(.., 8). Strides do not depend on the input size
 * (32x32 or 64x64 inputs end at 1x1 or 2x2 before the pool, as torchvision would).
 *
 * Node names follow torchvision's module paths ("features.2.conv.1.0" is a depthwise conv,
 * "features.2.conv.1.2" its ReLU6); a residual block's add node is named after the block
 * ("features.3"), so it is the block's output, as in PyTorch.
 *
 * Init as torchvision: conv weights N(0, 2/fan_out) with fan_out = OC*K*K (kaiming_normal_,
 * mode fan_out, gain sqrt(2); for the depthwise [C,1,3,3] weight fan_out is 9*C), BatchNorm
 * weight 1, bias 0 (eps 1e-5, momentum 0.1), linear weight N(0, 0.01^2), bias 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nn/model.h"

#define BN_EPS 1e-5f
#define BN_MOMENTUM 0.1f

static const struct { int t, c, n, s; } SETTINGS[] = {
    {1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
    {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1},
};

/* torchvision's _make_divisible(v, 8): nearest multiple of 8 (at least 8), bumped up one
 * step when rounding lost more than 10%. */
static int make_divisible(double v, int d)
{
    int n = (int)(v + d / 2.0) / d * d;
    if (n < d) n = d;
    if (n < 0.9 * v) n += d;
    return n;
}

/* The width as the decimal the user wrote (0.35f -> 0.35), so that channel counts are
 * computed as Python does with a double width_mult. */
static double width_of(const rp_model_config *cfg)
{
    if (cfg->width == 0.0f) return 1.0;
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", (double)cfg->width);
    return strtod(buf, NULL);
}

/* Re-initialise the weight (first parameter) of a just-added node. */
static void init_weight(rp_graph *g, int node, rp_init kind, float scale)
{
    if (node < 0) return;
    rp_param *p = &g->params[g->nodes[node].first_param];
    p->init = kind;
    p->init_scale = scale;
}

/* name.0 conv (no bias), name.1 BN, name.2 ReLU6 when act. Returns the last node. */
static int conv_bn(rp_graph *g, int x, const char *name, int OC, int K, int stride, int groups,
                   bool act)
{
    char conv[64], bn[64], relu[64];
    snprintf(conv, sizeof conv, "%s.0", name);
    snprintf(bn, sizeof bn, "%s.1", name);
    snprintf(relu, sizeof relu, "%s.2", name);
    x = rp_g_conv2d(g, x, conv, OC, K, stride, (K - 1) / 2, groups, false);
    init_weight(g, x, RP_INIT_NORMAL, sqrtf(2.0f / ((float)OC * K * K)));
    x = rp_g_batchnorm2d(g, x, bn, BN_EPS, BN_MOMENTUM);
    return act ? rp_g_relu6(g, x, relu) : x;
}

/* features.<idx>: one inverted residual block from IN to OUT channels. */
static int inverted_residual(rp_graph *g, int x, int idx, int IN, int OUT, int stride, int t)
{
    char name[64], conv[64], bn[64];
    int hidden = IN * t, k = 0, y = x;
    if (t != 1) {
        snprintf(name, sizeof name, "features.%d.conv.%d", idx, k++);
        y = conv_bn(g, y, name, hidden, 1, 1, 1, true);
    }
    snprintf(name, sizeof name, "features.%d.conv.%d", idx, k++);
    y = conv_bn(g, y, name, hidden, 3, stride, hidden, true);
    snprintf(conv, sizeof conv, "features.%d.conv.%d", idx, k++);
    snprintf(bn, sizeof bn, "features.%d.conv.%d", idx, k);
    y = rp_g_conv2d(g, y, conv, OUT, 1, 1, 0, 1, false);
    init_weight(g, y, RP_INIT_NORMAL, sqrtf(2.0f / (float)OUT));
    y = rp_g_batchnorm2d(g, y, bn, BN_EPS, BN_MOMENTUM);
    if (stride != 1 || IN != OUT) return y;
    snprintf(name, sizeof name, "features.%d", idx);
    return rp_g_add(g, x, y, name);
}

int rp_build_mobilenet_v2_dropout(rp_graph *g, const rp_model_config *cfg, float dropout)
{
    double w = width_of(cfg);
    if (!(w > 0.0) || w > 16.0) {
        g->status = rp_fail(g->ctx, RP_ERR_ARG, "model mobilenet_v2: width %g must be in (0, 16]",
                            (double)cfg->width);
        return -1;
    }
    int x = rp_g_normalize(g, RP_INPUT, "normalize", cfg->mean, cfg->std);
    int C = make_divisible(32 * w, 8);
    x = conv_bn(g, x, "features.0", C, 3, 2, 1, true);
    int idx = 1;
    for (size_t s = 0; s < sizeof SETTINGS / sizeof SETTINGS[0]; s++) {
        int OUT = make_divisible(SETTINGS[s].c * w, 8);
        for (int i = 0; i < SETTINGS[s].n; i++) {
            x = inverted_residual(g, x, idx++, C, OUT, i == 0 ? SETTINGS[s].s : 1, SETTINGS[s].t);
            C = OUT;
        }
    }
    char name[64];
    snprintf(name, sizeof name, "features.%d", idx);
    x = conv_bn(g, x, name, make_divisible(1280 * (w > 1.0 ? w : 1.0), 8), 1, 1, 1, true);
    return rp_build_pooled_classifier(g, x, cfg->num_classes, dropout, RP_INIT_NORMAL, 0.01f);
}

int rp_build_mobilenet_v2(rp_graph *g, const rp_model_config *cfg)
{
    return rp_build_mobilenet_v2_dropout(g, cfg, 0.2f);
}
