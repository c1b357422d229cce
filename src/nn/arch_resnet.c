/* resnet18, resnet50, resnext50_32x4d: torchvision 0.14's ResNet-18, ResNet-50 (He et al.
 * 2016) and ResNeXt-50 32x4d (Xie et al. 2017), same layers, state_dict keys, shapes and
 * initialisation, behind rampart's normalisation layer.
 *
 *   stem      conv1 7x7 stride 2 pad 3 -> 64, bn1, relu, maxpool 3x3 s2 p1
 *             resnet18_cifar: conv1 3x3 stride 1 pad 1 -> 64, bn1, relu (no maxpool; the
 *             usual CIFAR variant: same keys, conv1.weight [64,C,3,3])
 *   layer1..4 blocks of 64/128/256/512 "planes", the first block of layers 2-4 with stride 2
 *             resnet18: two BasicBlocks per layer (out = planes):
 *               conv1 3x3 (stride), bn1, relu, conv2 3x3, bn2,
 *               + input, or + downsample.0 1x1 conv (stride) / downsample.1 BN when the
 *               shape changes; relu
 *             resnet50, resnext50_32x4d: 3/4/6/3 Bottlenecks (out = 4 planes), torchvision's
 *             "v1.5" with the stride on the 3x3 conv:
 *               conv1 1x1 -> width, bn1, relu, conv2 3x3 (stride, groups) -> width, bn2,
 *               relu, conv3 1x1 -> 4 planes, bn3, + input or downsample (as above: layer1's
 *               first block has one too, 64 -> 256 at stride 1); relu
 *             width = planes * width_per_group / 64 * groups: planes for resnet50 (groups 1,
 *             width_per_group 64), 2 planes for resnext50_32x4d (groups 32, 4 per group)
 *   avgpool, flatten, fc
 * Node names follow torchvision's module paths; a block's final ReLU is named after the
 * block ("layer4.1"), so it is the block's output as in PyTorch (Grad-CAM's usual target);
 * its first ReLU is "layer4.1.relu" (a Bottleneck's second "layer4.1.relu2": torchvision
 * applies its one relu module three times), the add "layer4.1.add".
 *
 * Init as torchvision: conv weights N(0, 2/fan_out) with fan_out = OC*K*K (kaiming_normal_,
 * mode fan_out, relu; PyTorch's fan_out ignores groups), BatchNorm weight 1, bias 0 (eps 1e-5,
 * momentum 0.1), fc PyTorch's default U(+-1/sqrt(fan_in)) for weight and bias (fan_in 512 or
 * 2048); no zero-init of the last BN (zero_init_residual is False by default). */
#include <math.h>
#include <stdio.h>

#include "nn/model.h"

#define BN_EPS 1e-5f
#define BN_MOMENTUM 0.1f

/* conv (no bias, groups) named conv, with torchvision's init, then BN named bn. */
static int conv_bn_groups(rp_graph *g, int x, const char *conv, const char *bn, int OC, int K,
                          int stride, int groups)
{
    x = rp_g_conv2d(g, x, conv, OC, K, stride, (K - 1) / 2, groups, false);
    if (x >= 0) {
        rp_param *w = &g->params[g->nodes[x].first_param];
        w->init = RP_INIT_NORMAL;
        w->init_scale = sqrtf(2.0f / ((float)OC * K * K));
    }
    return rp_g_batchnorm2d(g, x, bn, BN_EPS, BN_MOMENTUM);
}

static int conv_bn(rp_graph *g, int x, const char *conv, const char *bn, int OC, int K, int stride)
{
    return conv_bn_groups(g, x, conv, bn, OC, K, stride, 1);
}

/* <name>.downsample when the shape changes (else x itself), the add and the block's ReLU. */
static int block_end(rp_graph *g, int x, int y, const char *name, int IN, int OUT, int stride)
{
    char a[64], b[64];
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
    return block_end(g, x, y, name, IN, OUT, stride);
}

/* <name>: a Bottleneck from IN channels to OUT = 4 planes, its 3x3 conv WIDTH channels in
 * `groups` groups and with the stride. */
static int bottleneck(rp_graph *g, int x, const char *name, int IN, int WIDTH, int OUT, int stride,
                      int groups)
{
    char a[64], b[64];
    snprintf(a, sizeof a, "%s.conv1", name);
    snprintf(b, sizeof b, "%s.bn1", name);
    int y = conv_bn(g, x, a, b, WIDTH, 1, 1);
    snprintf(a, sizeof a, "%s.relu", name);
    y = rp_g_relu(g, y, a);
    snprintf(a, sizeof a, "%s.conv2", name);
    snprintf(b, sizeof b, "%s.bn2", name);
    y = conv_bn_groups(g, y, a, b, WIDTH, 3, stride, groups);
    snprintf(a, sizeof a, "%s.relu2", name);
    y = rp_g_relu(g, y, a);
    snprintf(a, sizeof a, "%s.conv3", name);
    snprintf(b, sizeof b, "%s.bn3", name);
    y = conv_bn(g, y, a, b, OUT, 1, 1);
    return block_end(g, x, y, name, IN, OUT, stride);
}

/* The variants: blocks per layer, Bottleneck or BasicBlock, the 3x3 convs' groups and width
 * per group (torchvision's ResNet(block, layers, groups, width_per_group)). */
typedef struct resnet_spec {
    const char *arch;
    int blocks[4];
    bool bottleneck;
    int groups, width_per_group;
    bool cifar_stem;
} resnet_spec;

static int build_resnet(rp_graph *g, const rp_model_config *cfg, const resnet_spec *r)
{
    if (cfg->width != 0.0f && cfg->width != 1.0f) {
        g->status = rp_fail(g->ctx, RP_ERR_ARG, "model %s has no width multiplier (width %g given)",
                            r->arch, (double)cfg->width);
        return -1;
    }
    int x = rp_g_normalize(g, RP_INPUT, "normalize", cfg->mean, cfg->std);
    x = conv_bn(g, x, "conv1", "bn1", 64, r->cifar_stem ? 3 : 7, r->cifar_stem ? 1 : 2);
    x = rp_g_relu(g, x, "relu");
    if (!r->cifar_stem) x = rp_g_maxpool2d(g, x, "maxpool", 3, 2, 1);
    static const int PLANES[4] = {64, 128, 256, 512};
    int C = 64;
    for (int l = 0; l < 4; l++) {
        int out = r->bottleneck ? 4 * PLANES[l] : PLANES[l];
        int width = PLANES[l] * r->width_per_group / 64 * r->groups;
        for (int b = 0; b < r->blocks[l]; b++) {
            char name[32];
            snprintf(name, sizeof name, "layer%d.%d", l + 1, b);
            int stride = l > 0 && b == 0 ? 2 : 1;
            x = r->bottleneck ? bottleneck(g, x, name, C, width, out, stride, r->groups)
                              : basic_block(g, x, name, C, out, stride);
            C = out;
        }
    }
    x = rp_g_global_avgpool(g, x, "avgpool");
    x = rp_g_flatten(g, x, "flatten");
    return rp_g_linear(g, x, "fc", cfg->num_classes, true);
}

int rp_build_resnet18(rp_graph *g, const rp_model_config *cfg)
{
    static const resnet_spec r = {"resnet18", {2, 2, 2, 2}, false, 1, 64, false};
    return build_resnet(g, cfg, &r);
}

int rp_build_resnet18_cifar(rp_graph *g, const rp_model_config *cfg)
{
    static const resnet_spec r = {"resnet18_cifar", {2, 2, 2, 2}, false, 1, 64, true};
    return build_resnet(g, cfg, &r);
}

int rp_build_resnet50(rp_graph *g, const rp_model_config *cfg)
{
    static const resnet_spec r = {"resnet50", {3, 4, 6, 3}, true, 1, 64, false};
    return build_resnet(g, cfg, &r);
}

int rp_build_resnext50_32x4d(rp_graph *g, const rp_model_config *cfg)
{
    static const resnet_spec r = {"resnext50_32x4d", {3, 4, 6, 3}, true, 32, 4, false};
    return build_resnet(g, cfg, &r);
}
