/* Train a small robust classifier with rampart's public API alone and save it.
 *
 *   cc train_robust.c $(pkg-config --cflags --libs rampart) -o train_robust
 *   ./train_robust [DATA [OUT [STEPS]]]     (fashion-mnist, robust.safetensors, 200)
 *
 * smallcnn on the first 6,000 training images, PGD adversarial training (eps 0.1, 5 steps)
 * with SGD and a cosine schedule, batches shuffled per epoch; then clean test accuracy on
 * 1,000 images and the checkpoint (the base model alone: loadable by `rampart eval`, by
 * rp_model_load, and by PyTorch). */
#include <stdio.h>
#include <stdlib.h>

#include <rampart.h>

enum { N_TRAIN = 6000, BATCH = 100 };

static int fail(rp_ctx *ctx, const char *what)
{
    fprintf(stderr, "train_robust: %s: %s\n", what, rp_ctx_error(ctx));
    return 1;
}

int main(int argc, char **argv)
{
    const char *data = argc > 1 ? argv[1] : "fashion-mnist", *out = argc > 2 ? argv[2] : "robust.safetensors";
    int steps = argc > 3 ? atoi(argv[3]) : 200;
    printf("rampart %s (header %d.%d.%d)\n", rp_version(), RP_VERSION_MAJOR, RP_VERSION_MINOR, RP_VERSION_PATCH);
    rp_set_threads(2);
    rp_ctx *ctx = rp_ctx_create(2);
    rp_dataset *train = NULL, *test = NULL;
    if (rp_dataset_open(ctx, data, true, &train) != RP_OK || rp_dataset_open(ctx, data, false, &test) != RP_OK)
        return fail(ctx, data);
    rp_dataset_truncate(train, N_TRAIN);
    rp_model_config mc = {.arch = "smallcnn", .num_classes = rp_dataset_num_classes(train), .max_batch = BATCH, .seed = 1};
    rp_dataset_shape(train, &mc.H, &mc.W, &mc.C);
    rp_dataset_norm(train, mc.mean, mc.std);
    rp_model *m = NULL;
    rp_objective *obj = NULL;
    rp_optim *opt = NULL;
    rp_objective_config oc = rp_objective_defaults();
    oc.kind = RP_OBJ_PGD, oc.norm = RP_NORM_LINF, oc.eps = 0.1f, oc.steps = 5, oc.random_init = true, oc.seed = 1;
    rp_optim_config sgd = rp_optim_defaults(RP_SGD);
    sgd.lr = 0.05f, sgd.momentum = 0.9f, sgd.schedule = RP_SCHED_COSINE, sgd.total_steps = steps;
    if (rp_model_create(ctx, &mc, &m) != RP_OK || rp_objective_create(ctx, m, &oc, BATCH, &obj) != RP_OK ||
        rp_optim_create(ctx, m, &sgd, &opt) != RP_OK)
        return fail(ctx, "setting up");
    size_t X = (size_t)mc.H * mc.W * mc.C;
    float *x = malloc((size_t)BATCH * X * sizeof *x);
    int32_t *y = malloc(BATCH * sizeof *y);
    int *order = malloc(N_TRAIN * sizeof *order);
    if (!x || !y || !order) return 1;
    int per_epoch = N_TRAIN / BATCH;
    for (int s = 0; s < steps; s++) {
        int epoch = s / per_epoch, b = s % per_epoch;
        if (b == 0) rp_permutation(order, N_TRAIN, 1, (uint64_t)epoch);
        rp_dataset_gather(train, order + b * BATCH, BATCH, x, y);
        rp_objective_set_examples(obj, epoch, order + b * BATCH); /* random starts keyed by sample */
        rp_step_stats st;
        if (rp_train_step(obj, opt, x, y, BATCH, &st) != RP_OK) return fail(ctx, "training");
        if (s % 50 == 0 || s == steps - 1)
            printf("step %d/%d  loss %.4f  adversarial accuracy %.2f\n", s + 1, steps, (double)st.loss,
                   (double)st.adv_correct / BATCH);
    }
    double acc = 0.0;
    if (rp_evaluate(ctx, m, test, 1000, 250, &acc, NULL) != RP_OK) return fail(ctx, "evaluating");
    if (rp_model_save(ctx, m, out, NULL) != RP_OK) return fail(ctx, out);
    printf("clean test accuracy %.4f on 1000 images; saved %s\n", acc, out);
    free(x), free(y), free(order);
    rp_optim_destroy(opt);
    rp_objective_destroy(obj);
    rp_model_destroy(m);
    rp_dataset_destroy(train);
    rp_dataset_destroy(test);
    rp_ctx_destroy(ctx);
    return 0;
}
