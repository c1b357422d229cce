/* Explain a model's predictions as PNG files, with rampart's public API alone: for the first
 * N test images, the predicted class explained by saliency, Integrated Gradients and Grad-CAM,
 * each written as image | map | overlay; and two checks that the maps mean something: the
 * deletion AUC of each map against a random map's (lower is better: deleting the pixels a
 * good map ranks first destroys the prediction sooner), and the cascading randomization test
 * of saliency (the maps of a randomized model should not look like the trained model's).
 *
 *   cc explain_png.c $(pkg-config --cflags --libs rampart) -o explain_png
 *   ./explain_png MODEL [DATA [OUTDIR [N]]]     (fashion-mnist, ., 4)  */
#include <stdio.h>
#include <stdlib.h>

#include <rampart.h>

static int fail(rp_ctx *ctx, const char *what)
{
    fprintf(stderr, "explain_png: %s: %s\n", what, rp_ctx_error(ctx));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [DATA [OUTDIR [N]]]\n", argv[0]);
        return 2;
    }
    const char *path = argv[1], *data = argc > 2 ? argv[2] : "fashion-mnist", *dir = argc > 3 ? argv[3] : ".";
    int n = argc > 4 ? atoi(argv[4]) : 4;
    if (n < 1 || n > 64) n = 4;
    rp_set_threads(2);
    rp_ctx *ctx = rp_ctx_create(2);
    rp_model *m = NULL;
    rp_dataset *test = NULL;
    if (rp_model_load(ctx, path, 64, &m) != RP_OK) return fail(ctx, path);
    if (rp_dataset_open(ctx, data, false, &test) != RP_OK) return fail(ctx, data);
    int H, W, C;
    rp_dataset_shape(test, &H, &W, &C);
    size_t X = (size_t)H * W * C, P = (size_t)H * W;
    float *x = malloc((size_t)n * X * sizeof *x), *map = malloc((size_t)n * P * sizeof *map);
    float *rnd = malloc((size_t)n * P * sizeof *rnd);
    int32_t *y = malloc((size_t)n * sizeof *y), *pred = malloc((size_t)n * sizeof *pred);
    int *idx = malloc((size_t)n * sizeof *idx);
    double *del = malloc((size_t)n * sizeof *del), *del_rnd = malloc((size_t)n * sizeof *del_rnd);
    if (!x || !map || !rnd || !y || !pred || !idx || !del || !del_rnd) return 1;
    for (int i = 0; i < n; i++) idx[i] = i;
    rp_dataset_gather(test, idx, n, x, y);

    rp_explain_config cfg = rp_explain_defaults(); /* Grad-CAM on the last spatial feature map */
    cfg.ig_steps = 32;
    rp_explainer *ex = NULL;
    if (rp_explainer_create(ctx, m, &cfg, &ex) != RP_OK) return fail(ctx, "explainer");
    if (rp_xai_targets(ex, x, NULL, n, RP_TARGET_PRED, 0, pred) != RP_OK) return fail(ctx, "targets");
    rp_xai_random_map(rnd, (size_t)n * P, 1);
    if (rp_xai_deletion_insertion(ex, x, pred, n, rnd, 16, 1, del_rnd, NULL) != RP_OK) return fail(ctx, "random map");
    const rp_xai_method methods[] = {RP_XAI_SALIENCY, RP_XAI_IG, RP_XAI_GRADCAM};
    for (int k = 0; k < 3; k++) {
        rp_xai_method meth = methods[k];
        if (rp_xai_explain(ex, meth, x, pred, n, &(rp_xai_result){.map = map}) != RP_OK)
            return fail(ctx, rp_xai_method_name(meth));
        for (int i = 0; i < n; i++) {
            char file[1024];
            snprintf(file, sizeof file, "%s/explain_%d_%s.png", dir, i, rp_xai_method_name(meth));
            if (rp_xai_write_png(ctx, file, x + i * X, map + i * P, H, W, C, rp_xai_map_is_signed(meth, &cfg), 0) != RP_OK)
                return fail(ctx, file);
        }
        if (rp_xai_deletion_insertion(ex, x, pred, n, map, 16, 1, del, NULL) != RP_OK) return fail(ctx, "deletion");
        double a = 0.0, b = 0.0;
        for (int i = 0; i < n; i++) a += del[i] / n, b += del_rnd[i] / n;
        printf("%-10s deletion AUC %.4f (random map %.4f); wrote %s/explain_*_%s.png\n", rp_xai_method_name(meth), a, b,
               dir, rp_xai_method_name(meth));
    }
    for (int i = 0; i < n; i++) {
        const char *name = rp_dataset_class_name(test, pred[i]);
        printf("image %d: label %d, predicted %d%s%s\n", i, (int)y[i], (int)pred[i], name ? " " : "", name ? name : "");
    }
    rp_sanity_row rows[64];
    int n_rows = 0;
    if (rp_sanity_randomization(ex, RP_XAI_SALIENCY, x, pred, n, 1, rows, 64, &n_rows) != RP_OK)
        return fail(ctx, "randomization");
    printf("saliency after re-randomizing the layers from the top (Spearman with the trained model's maps):\n");
    for (int r = 0; r < n_rows; r++) printf("  down to %-12s %.3f\n", rows[r].layer, rows[r].rho_map);
    rp_explainer_destroy(ex);
    free(x), free(map), free(rnd), free(y), free(pred), free(idx), free(del), free(del_rnd);
    rp_model_destroy(m);
    rp_dataset_destroy(test);
    rp_ctx_destroy(ctx);
    return 0;
}
