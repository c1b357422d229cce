/* rampart predict: the top-k classes of a model for image files (JPEG or PNG), each image
 * fitted to the model's input as the image-file data sets do (shorter side resized,
 * centre crop, gray <-> RGB). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct predict_opts {
    const char *model, *precision;
    cli_arch arch; /* a bare state_dict */
    int top, batch, threads, input_size;
    bool json;
} predict_opts;

/* Indices of the k largest of p[0..K) into best, largest first (ties: lower index). */
static void top_k(const double *p, int K, int k, int *best)
{
    for (int j = 0; j < k; j++) {
        int arg = -1;
        for (int c = 0; c < K; c++) {
            bool taken = false;
            for (int i = 0; i < j; i++) taken = taken || best[i] == c;
            if (!taken && (arg < 0 || p[c] > p[arg])) arg = c;
        }
        best[j] = arg;
    }
}

static void report(const predict_opts *o, const char *image, const float *logits, int K, char **names, int n_names)
{
    double *p = malloc((size_t)K * sizeof *p), max = -INFINITY, sum = 0;
    int k = o->top < K ? o->top : K, best[64];
    for (int c = 0; c < K; c++) max = logits[c] > max ? logits[c] : max;
    for (int c = 0; c < K; c++) sum += p[c] = exp((double)logits[c] - max);
    for (int c = 0; c < K; c++) p[c] /= sum;
    top_k(p, K, k, best);
    cJSON *arr = o->json ? cJSON_CreateArray() : NULL;
    if (!o->json) printf("%s\n", image);
    for (int j = 0; j < k; j++) {
        int c = best[j];
        const char *name = c < n_names ? names[c] : "";
        if (!o->json) {
            printf("  %2d. %6.2f%%  %s (%d)\n", j + 1, 100.0 * p[c], name[0] ? name : "class", c);
            continue;
        }
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "class", c);
        cJSON_AddStringToObject(e, "name", name);
        cJSON_AddNumberToObject(e, "probability", p[c]);
        cJSON_AddItemToArray(arr, e);
    }
    if (o->json) {
        cJSON *obj = cJSON_CreateObject();
        cJSON_AddStringToObject(obj, "image", image);
        cJSON_AddItemToObject(obj, "top", arr);
        char *s = cJSON_PrintUnformatted(obj);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(obj);
    }
    free(p);
}

static int predict(const predict_opts *o, rp_ctx *ctx, char **images, int n_images)
{
    rp_model *m = NULL;
    char **names = NULL;
    int n_names = 0, rc = CLI_EXIT_FAIL;
    float *x = NULL;
    int S = o->input_size; /* with --arch: ImageNet's normalisation, as torchvision's weights expect */
    float mean[3], std[3];
    if (rp_imagenet_norm(ctx, mean, std) != RP_OK ||
        cli_load_model(ctx, o->model, &o->arch, S, S, 3, mean, std, o->batch, &m) != RP_OK ||
        rp_checkpoint_class_names(ctx, o->model, &names, &n_names) != RP_OK)
        goto fail;
    const rp_model_config *c = rp_model_get_config(m);
    size_t X = (size_t)c->H * c->W * c->C;
    if (!(x = malloc((size_t)o->batch * X * sizeof *x))) {
        fprintf(stderr, "rampart predict: out of memory\n");
        goto done;
    }
    for (int start = 0; start < n_images; start += o->batch) {
        int B = n_images - start < o->batch ? n_images - start : o->batch;
        for (int i = 0; i < B; i++)
            if (rp_image_load(ctx, images[start + i], c->H, c->W, c->C, x + (size_t)i * X) != RP_OK) goto fail;
        const float *logits = NULL; /* no backward: outputs in their slots */
        if (rp_model_infer(ctx, m, x, B, &logits) != RP_OK) goto fail;
        for (int i = 0; i < B; i++)
            report(o, images[start + i], logits + (size_t)i * c->num_classes, c->num_classes, names, n_names);
        fflush(stdout);
    }
    rc = CLI_EXIT_OK;
    goto done;
fail:
    rc = cli_fail("predict", ctx);
done:
    free(x);
    rp_checkpoint_free_names(names, n_names);
    rp_model_destroy(m);
    return rc;
}

int cmd_predict(int argc, char **argv)
{
    predict_opts o;
    cli_flag flags[] = {
        {"--model", CLI_STRING, &o.model, NULL, "checkpoint (rampart train's output)"},
        {"--arch", CLI_STRING, &o.arch.arch, NULL,
         "--model is a bare state_dict (e.g. torchvision's) of this architecture, RGB input normalised with "
         "ImageNet's mean/std"},
        {"--num-classes", CLI_INT, &o.arch.num_classes, "1000", "with --arch: the classifier's classes"},
        {"--width", CLI_FLOAT, &o.arch.width, "1", "with --arch: mobilenet_v2's width multiplier"},
        {"--input-size", CLI_INT, &o.input_size, "224", "with --arch: the model's input side in pixels"},
        {"--top", CLI_INT, &o.top, "5", "classes to show per image (1..64)"},
        {"--batch", CLI_INT, &o.batch, "32", "images per forward pass"},
        {"--threads", CLI_INT, &o.threads, "2", "CPU threads"},
        CLI_PRECISION_FLAG(&o.precision),
        {"--json", CLI_BOOL, &o.json, "false", "one JSON object per image on stdout"},
    };
    const int n_flags = (int)(sizeof flags / sizeof flags[0]);
    /* image paths are the arguments that are neither options nor their values */
    char **opts = malloc((size_t)(argc + 1) * sizeof *opts), **images = malloc((size_t)(argc + 1) * sizeof *images);
    int n_opts = 0, n_images = 0;
    for (int a = 0; a < argc; a++) {
        if (argv[a][0] != '-' || !argv[a][1]) {
            images[n_images++] = argv[a];
            continue;
        }
        opts[n_opts++] = argv[a];
        for (int i = 0; i < n_flags; i++)
            if (!strcmp(argv[a], flags[i].name) && flags[i].type != CLI_BOOL && a + 1 < argc) opts[n_opts++] = argv[++a];
    }
    int p = cli_parse("predict", "Top-k classes for image files: rampart predict --model M [--top K] IMAGE...",
                      flags, n_flags, n_opts, opts);
    int rc = p ? (p > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE) : -1;
    if (rc < 0 && (!o.model || n_images == 0)) {
        fprintf(stderr, "rampart predict: give --model FILE and at least one image\n");
        rc = CLI_EXIT_USAGE;
    }
    if (rc < 0 && (o.top < 1 || o.top > 64 || o.batch < 1 || o.threads < 1 || o.input_size < 1 ||
                   o.input_size > 4096 || o.arch.num_classes < 2)) {
        fprintf(stderr, "rampart predict: --top must be in 1..64, --batch and --threads >= 1, --input-size in "
                        "1..4096, --num-classes >= 2\n");
        rc = CLI_EXIT_USAGE;
    }
    if (rc < 0 && !o.arch.arch && (o.arch.num_classes != 1000 || o.arch.width != 1.0f || o.input_size != 224)) {
        fprintf(stderr, "rampart predict: --num-classes, --width and --input-size describe a bare state_dict: give "
                        "--arch too\n");
        rc = CLI_EXIT_USAGE;
    }
    if (rc < 0) {
        int prc = cli_set_precision("predict", o.precision);
        if (prc) rc = prc;
    }
    if (rc < 0) {
        rp_set_threads(o.threads);
        rp_ctx *ctx = rp_ctx_create(o.threads);
        rc = predict(&o, ctx, images, n_images);
        rp_ctx_destroy(ctx);
    }
    free(opts);
    free(images);
    return rc;
}
