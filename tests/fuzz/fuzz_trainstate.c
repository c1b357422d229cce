/* Fuzz the training-state reader (src/io/trainstate.c) against the state of a small model: an
 * mlp on 2x2x1 images with 3 classes and SGD with momentum, the shape of the seed files
 * (tests/fuzz/make_seeds.c). The model and optimizer are made once per process. */
#include <stdlib.h>

#include "io/trainstate.h"
#include "fuzz_util.h"

static rp_train_parts parts;

static void make_parts(void)
{
    static rp_ctx *ctx;
    ctx = rp_ctx_create(1);
    rp_model_config mc = {.arch = "mlp", .num_classes = 3, .H = 2, .W = 2, .C = 1, .max_batch = 1, .seed = 1,
                          .mean = {0.5f}, .std = {0.25f}};
    rp_optim_config oc = rp_optim_defaults(RP_SGD);
    oc.momentum = 0.9f;
    if (rp_model_create(ctx, &mc, &parts.m) != RP_OK || rp_optim_create(ctx, parts.m, &oc, &parts.opt) != RP_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!parts.m) make_parts();
    const char *path = fuzz_file("state", data, size);
    rp_ctx *ctx = rp_ctx_create(1);
    rp_train_position pos;
    char *extra = NULL, sha[65];
    (void)rp_trainstate_load(ctx, path, &parts, "{\"objective\":\"pgd\"}", &pos, &extra, sha);
    free(extra);
    rp_ctx_destroy(ctx);
    remove(path);
    return 0;
}
