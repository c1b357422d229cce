/* resnet18: torchvision 0.14's ResNet-18 (He et al. 2016), same layers, state_dict keys,
 * shapes and initialisation, behind rampart's normalisation layer.
 *
 *   stem      resnet18:       conv1 7x7 stride 2 pad 3 -> 64, bn1, relu, maxpool 3x3 s2 p1
 *             resnet18_cifar: conv1 3x3 stride 1 pad 1 -> 64, bn1, relu (no maxpool; the
 *                             usual CIFAR variant: same keys, conv1.weight [64,C,3,3])
 *   layer1..4 two BasicBlocks each, 64/128/256/512 channels, the first block of layers
 *             2-4 with stride 2:
 *               conv1 3x3 (stride), bn1, relu, conv2 3x3, bn2,
 *               + input, or + downsample.0 1x1 conv (stride) / downsample.1 BN when the
 *               shape changes; relu
 *   avgpool, flatten, fc
 * Node names follow torchvision's module paths; a block's final ReLU is named after the
 * block ("layer4.1"), so it is the block's output as in PyTorch (Grad-CAM's usual target);
 * its first ReLU is "layer4.1.relu", the add "layer4.1.add".
 *
 * Init as torchvision: conv weights N(0, 2/fan_out) with fan_out = OC*K*K (kaiming_normal_,
 * mode fan_out, relu), BatchNorm weight 1, bias 0 (eps 1e-5, momentum 0.1), fc PyTorch's
 * default U(+-1/sqrt(512)) for weight and bias; no zero-init of the last BN. */
#include <math.h>
#include <stdio.h>

#include "nn/model.h"

#define BN_EPS 1e-5f
#define BN_MOMENTUM 0.1f

/* conv (no bias) named conv, with torchvision's init, then BN named bn. */
static int conv_bn(rp_graph *g, int x, const char *conv, const char *bn, int OC, int K,
                   int stride)
{
    x = rp_g_conv2d(g, x, conv, OC, K, stride, (K - 1) / 2, 1, false);
    if (x >= 0) {
        rp_param *w = &g->params[g->nodes[x].first_param];
        w->init = RP_INIT_NORMAL;
        w->init_scale = sqrtf(2.0f / ((float)OC * K * K));
    }
    return rp_g_batchnorm2d(g, x, bn, BN_EPS, BN_MOMENTUM);
}

/* <name>: a BasicBlock from the node x with IN channels to OUT channels. */
static int basic_block(rp_graph *g, int x, const char *name, int IN, int OUT, int stride)
{
    char a[64], b[64];
    snprintf(a, sizeof a, "%s.conv1", name);
    snprintf(b, sizeof b, "%s.bn1", name);
    int y = conv_bn(g, x, a, b, OUT, 3, stride);
    snprintf(a, sizeof a, "%s.relu", name);
    y = rp_g_relu(g, y, a);
    snprintf(a, sizeof a, "%s.conv2", name);
    snprintf(b, sizeof b, "%s.bn2", name);
    y = conv_bn(g, y, a, b, OUT, 3, 1);
    int skip = x;
    if (stride != 1 || IN != OUT) {
        snprintf(a, sizeof a, "%s.downsample.0", name);
        snprintf(b, sizeof b, "%s.downsample.1", name);
        skip = conv_bn(g, x, a, b, OUT, 1, stride);
    }
    snprintf(a, sizeof a, "%s.add", name);
    y = rp_g_add(g, y, skip, a);
    return rp_g_relu(g, y, name);
}

static int build_resnet18(rp_graph *g, const rp_model_config *cfg, bool cifar_stem)
{
    const char *arch = cifar_stem ? "resnet18_cifar" : "resnet18";
    if (cfg->width != 0.0f && cfg->width != 1.0f) {
        g->status = rp_fail(g->ctx, RP_ERR_ARG, "model %s has no width multiplier (width %g given)",
                            arch, (double)cfg->width);
        return -1;
    }
    int x = rp_g_normalize(g, RP_INPUT, "normalize", cfg->mean, cfg->std);
    x = conv_bn(g, x, "conv1", "bn1", 64, cifar_stem ? 3 : 7, cifar_stem ? 1 : 2);
    x = rp_g_relu(g, x, "relu");
    if (!cifar_stem) x = rp_g_maxpool2d(g, x, "maxpool", 3, 2, 1);
    static const int PLANES[4] = {64, 128, 256, 512};
    int C = 64;
    for (int l = 0; l < 4; l++) {
        for (int b = 0; b < 2; b++) {
            char name[32];
            snprintf(name, sizeof name, "layer%d.%d", l + 1, b);
            x = basic_block(g, x, name, C, PLANES[l], l > 0 && b == 0 ? 2 : 1);
            C = PLANES[l];
        }
    }
    x = rp_g_global_avgpool(g, x, "avgpool");
    x = rp_g_flatten(g, x, "flatten");
    return rp_g_linear(g, x, "fc", cfg->num_classes, true);
}

int rp_build_resnet18(rp_graph *g, const rp_model_config *cfg)
{
    return build_resnet18(g, cfg, false);
}

int rp_build_resnet18_cifar(rp_graph *g, const rp_model_config *cfg)
{
    return build_resnet18(g, cfg, true);
}
