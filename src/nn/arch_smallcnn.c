/* smallcnn: conv 32 3x3 + ReLU + max-pool, conv 64 3x3 + ReLU + max-pool, linear 128 +
 * ReLU, linear num_classes; padding 1. Same names as python/rampart_torch.py's SmallCNN. */
#include "nn/model.h"

int rp_build_smallcnn(rp_graph *g, const rp_model_config *cfg)
{
    int x = rp_g_normalize(g, RP_INPUT, "normalize", cfg->mean, cfg->std);
    x = rp_g_conv2d(g, x, "conv1", 32, 3, 1, 1, 1, true);
    x = rp_g_relu(g, x, "relu1");
    x = rp_g_maxpool2d(g, x, "pool1", 2, 2, 0);
    x = rp_g_conv2d(g, x, "conv2", 64, 3, 1, 1, 1, true);
    x = rp_g_relu(g, x, "relu2");
    x = rp_g_maxpool2d(g, x, "pool2", 2, 2, 0);
    x = rp_g_flatten(g, x, "flatten");
    x = rp_g_linear(g, x, "fc1", 128, true);
    x = rp_g_relu(g, x, "relu3");
    return rp_g_linear(g, x, "fc2", cfg->num_classes, true);
}

/* mlp: flatten, linear 256 + ReLU, linear num_classes. */
int rp_build_mlp(rp_graph *g, const rp_model_config *cfg)
{
    int x = rp_g_normalize(g, RP_INPUT, "normalize", cfg->mean, cfg->std);
    x = rp_g_flatten(g, x, "flatten");
    x = rp_g_linear(g, x, "fc1", 256, true);
    x = rp_g_relu(g, x, "relu1");
    return rp_g_linear(g, x, "fc2", cfg->num_classes, true);
}
