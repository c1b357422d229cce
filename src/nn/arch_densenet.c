/* densenet121: torchvision 0.14's DenseNet-121 (Huang et al. 2017), same layers, state_dict
 * keys, shapes and initialisation, behind rampart's normalisation layer.
 *
 *   features.conv0 7x7 stride 2 pad 3 -> 64, norm0, relu0, pool0 max 3x3 s2 p1
 *   features.denseblock1..4   6/12/24/16 dense layers, each reading the concatenation of the
 *             block's input and every earlier layer's new features (growth 32):
 *               denselayerN: norm1, relu1, conv1 1x1 -> bn_size * growth = 128, norm2, relu2,
 *                            conv2 3x3 pad 1 -> 32 (BN-ReLU-conv: the batch norms come first)
 *   features.transition1..3   after blocks 1-3: norm, relu, conv 1x1 -> C / 2 (compression 0.5),
 *             pool avg 2x2 s2
 *   features.norm5, then forward()'s F.relu ("relu"), adaptive average pool ("avgpool"),
 *   flatten, classifier (linear)
 * Channels: 64 -> 256 -> 128 -> 512 -> 256 -> 1024 -> 512 -> 1024 features; no dropout
 * (torchvision's drop_rate is 0).
 *
 * Concatenation. torchvision's _DenseLayer computes torch.cat(features, 1) of the block's
 * input and all earlier layers' outputs; here each layer's input is a running concat of two,
 * concat(previous concat, new features) = "features.denseblockB.denselayerN.cat", in the same
 * channel order, the last named after the block ("features.denseblockB", the block's output as
 * in PyTorch). concat takes up to RP_MAX_IN (4) inputs; raising that to the 25 inputs of block
 * 3's last layer would save nothing: the graph gives every node an output of its own, so a
 * 25-input concat per layer writes the same C0 + 32 l channels per pixel per layer as the
 * running one (which copies C0 + 32 (l - 1) from the previous concat plus 32 new), holds the
 * same activation memory (sum over layers of C0 + 32 l channels: quadratic in the depth, as
 * torchvision's non-memory-efficient DenseNet, whose per-layer torch.cat autograd keeps),
 * and its backward moves the same floats; it would only widen every node's input arrays of
 * every model six-fold. What would save memory is each layer writing its 32 channels into one
 * buffer per block (Pleiss et al. 2017: linear in the depth), which needs outputs that are
 * channel slices of another node's, a graph feature not built. At 224 px the concats are
 * about a fifth of DenseNet-121's node outputs (40.7 of 195.7 MB per image; the activation
 * arena at batch 1, with gradient slots, saved floats and scratch, is 226 MB), see
 * tests/test_arch_densenet.c.
 *
 * Init as torchvision: conv weights N(0, 2/fan_in), fan_in = IC*K*K (kaiming_normal_ with its
 * defaults, mode fan_in), BatchNorm weight 1, bias 0 (eps 1e-5, momentum 0.1), classifier
 * weight PyTorch's default U(+-1/sqrt(1024)), bias 0. */
#include <math.h>
#include <stdio.h>

#include "nn/model.h"

#define BN_EPS 1e-5f
#define BN_MOMENTUM 0.1f

typedef struct densenet_spec {
    const char *arch;
    int growth, bn_size, init_features;
    int blocks[4];
} densenet_spec;

/* norm (BN), relu, conv (no bias, N(0, 2/fan_in)) under prefix, names <prefix><norm> etc. */
static int norm_relu_conv(rp_graph *g, int x, const char *prefix, const char *norm, const char *relu,
                          const char *conv, int OC, int K)
{
    char n[96];
    snprintf(n, sizeof n, "%s%s", prefix, norm);
    x = rp_g_batchnorm2d(g, x, n, BN_EPS, BN_MOMENTUM);
    snprintf(n, sizeof n, "%s%s", prefix, relu);
    x = rp_g_relu(g, x, n);
    snprintf(n, sizeof n, "%s%s", prefix, conv);
    x = rp_g_conv2d(g, x, n, OC, K, 1, (K - 1) / 2, 1, false);
    if (x >= 0) {
        rp_param *w = &g->params[g->nodes[x].first_param];
        w->init = RP_INIT_NORMAL;
        w->init_scale = sqrtf(2.0f / (float)(w->shape[1] * w->shape[2] * w->shape[3]));
    }
    return x;
}

/* features.denseblock<b>: L layers on x (C channels); returns the block's output, C + L * growth
 * channels. */
static int dense_block(rp_graph *g, int x, int b, int L, const densenet_spec *d)
{
    char prefix[64], name[96];
    for (int l = 1; l <= L; l++) {
        snprintf(prefix, sizeof prefix, "features.denseblock%d.denselayer%d.", b, l);
        int y = norm_relu_conv(g, x, prefix, "norm1", "relu1", "conv1", d->bn_size * d->growth, 1);
        y = norm_relu_conv(g, y, prefix, "norm2", "relu2", "conv2", d->growth, 3);
        if (l < L) snprintf(name, sizeof name, "%scat", prefix);
        else snprintf(name, sizeof name, "features.denseblock%d", b);
        const int in[2] = {x, y};
        x = rp_g_concat(g, in, 2, name);
    }
    return x;
}

static int build_densenet(rp_graph *g, const rp_model_config *cfg, const densenet_spec *d)
{
    if (cfg->width != 0.0f && cfg->width != 1.0f) {
        g->status = rp_fail(g->ctx, RP_ERR_ARG, "model %s has no width multiplier (width %g given)", d->arch,
                            (double)cfg->width);
        return -1;
    }
    int x = rp_g_normalize(g, RP_INPUT, "normalize", cfg->mean, cfg->std);
    x = rp_g_conv2d(g, x, "features.conv0", d->init_features, 7, 2, 3, 1, false);
    if (x >= 0) {
        rp_param *w = &g->params[g->nodes[x].first_param];
        w->init = RP_INIT_NORMAL;
        w->init_scale = sqrtf(2.0f / (float)(w->shape[1] * 7 * 7));
    }
    x = rp_g_batchnorm2d(g, x, "features.norm0", BN_EPS, BN_MOMENTUM);
    x = rp_g_relu(g, x, "features.relu0");
    x = rp_g_maxpool2d(g, x, "features.pool0", 3, 2, 1);
    int C = d->init_features;
    for (int b = 1; b <= 4; b++) {
        x = dense_block(g, x, b, d->blocks[b - 1], d);
        C += d->blocks[b - 1] * d->growth;
        if (b == 4) break;
        char prefix[64], name[96];
        snprintf(prefix, sizeof prefix, "features.transition%d.", b);
        C /= 2;
        x = norm_relu_conv(g, x, prefix, "norm", "relu", "conv", C, 1);
        snprintf(name, sizeof name, "%spool", prefix);
        x = rp_g_avgpool2d(g, x, name, 2, 2, 0);
    }
    x = rp_g_batchnorm2d(g, x, "features.norm5", BN_EPS, BN_MOMENTUM);
    x = rp_g_relu(g, x, "relu");
    x = rp_g_global_avgpool(g, x, "avgpool");
    x = rp_g_flatten(g, x, "flatten");
    int logits = rp_g_linear(g, x, "classifier", cfg->num_classes, true);
    if (logits >= 0) g->params[g->nodes[logits].first_param + 1].init = RP_INIT_ZERO;
    return logits;
}

int rp_build_densenet121(rp_graph *g, const rp_model_config *cfg)
{
    static const densenet_spec d = {"densenet121", 32, 4, 64, {6, 12, 24, 16}};
    return build_densenet(g, cfg, &d);
}
