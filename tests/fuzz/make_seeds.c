/* The seeds that need the library (docs/fuzzing.md): a rampart checkpoint and a training state
 * of a small model (an mlp on 2x2x1 images with 3 classes and SGD with momentum: the parts
 * fuzz_trainstate.c loads into), after one training step so that the moments are not zero.
 *
 *   fuzz_make_seeds tests/fuzz/corpus      (writes safetensors/seed_checkpoint, trainstate/seed_state)
 *
 * make_seeds.py writes the other formats' seeds. */
#include <stdio.h>
#include <sys/stat.h>

#include "io/trainstate.h"

static int fail(rp_ctx *ctx, const char *what)
{
    fprintf(stderr, "fuzz_make_seeds: %s: %s\n", what, rp_ctx_error(ctx));
    return 1;
}

int main(int argc, char **argv)
{
    const char *out = argc > 1 ? argv[1] : "tests/fuzz/corpus";
    char dir[1024], path[1200];
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config mc = {.arch = "mlp", .num_classes = 3, .H = 2, .W = 2, .C = 1, .max_batch = 2, .seed = 1,
                          .mean = {0.5f}, .std = {0.25f}};
    rp_optim_config oc = rp_optim_defaults(RP_SGD);
    oc.momentum = 0.9f;
    rp_model *m = NULL;
    rp_optim *opt = NULL;
    rp_objective *obj = NULL;
    rp_objective_config ob = rp_objective_defaults();
    if (rp_model_create(ctx, &mc, &m) != RP_OK || rp_optim_create(ctx, m, &oc, &opt) != RP_OK ||
        rp_objective_create(ctx, m, &ob, 2, &obj) != RP_OK)
        return fail(ctx, "model");
    const float x[8] = {0.1f, 0.9f, 0.4f, 0.3f, 0.7f, 0.2f, 0.5f, 1.0f};
    const int32_t y[2] = {2, 0};
    if (rp_train_step(obj, opt, x, y, 2, NULL) != RP_OK) return fail(ctx, "step");
    snprintf(dir, sizeof dir, "%s/safetensors", out);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/seed_checkpoint", dir);
    const char *const names[] = {"zero", "one", "two"};
    if (rp_model_save(ctx, m, path, names) != RP_OK) return fail(ctx, path);
    snprintf(dir, sizeof dir, "%s/trainstate", out);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/seed_state", dir);
    rp_train_parts parts = {.m = m, .opt = opt};
    rp_train_position pos = {.epoch = 1, .batch = 1, .loss_sum = 1.25, .seen = 2, .correct = 1, .steps = 1};
    if (rp_trainstate_save(ctx, path, &parts, &pos, "{\"objective\":\"pgd\"}", "{\"note\":[1,2]}",
                           "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef") != RP_OK)
        return fail(ctx, path);
    rp_objective_destroy(obj);
    rp_optim_destroy(opt);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
    return 0;
}
