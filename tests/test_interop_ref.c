/* Checkpoint interop with PyTorch: a checkpoint written by rampart loads into
 * python/rampart_torch.py (strict load_state_dict) and gives the same logits, and one
 * written by rampart_torch.save loads into rampart and gives the same logits, for every
 * architecture rampart_torch knows: the four big torchvision nets at 28-32 px, each both
 * ways, three of them once with a single channel (the stem conv reads 1, as rampart builds it).
 * Tolerance: max |rampart - torch| <= 1e-4 max(1, max |logit|) (float32 sums in different
 * orders; relative to the logits' scale, which the widened heads make 5-35 for the deep
 * nets). Measured: at most 2.4e-6; a wrong stem padding or two swapped tensors give 0.2-1.4
 * (the test prints every case's figure). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "nn/model.h"

#define TOL 1e-4f

typedef struct model_case {
    const char *arch;
    int H, W, C, K;
    float var_floor; /* added to the batch norms' running variances (calibrate_bn) */
} model_case;

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && v[0] ? v : fallback;
}

static void run_python(const char *args)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/torch_logits.py' %s", env_or("RAMPART_TORCH_PYTHON", "/usr/bin/python3"),
             env_or("RAMPART_SOURCE_DIR", "."), args);
    int rc = system(cmd);
    if (rc != 0) fail_msg("command failed (%d): %s", rc, cmd);
}

/* n images (N, H, W, C) in [0,1] into path as "x"; returns them (caller frees). */
static float *write_images(const char *path, int N, const model_case *mc, uint64_t seed)
{
    size_t n = (size_t)N * mc->H * mc->W * mc->C;
    float *x = malloc(n * sizeof *x);
    tu_fill_uniform(x, n, 0.0f, 1.0f, seed);
    rp_st_entry e = {.name = "x", .dtype = RP_ST_F32, .ndim = 4, .shape = {N, mc->H, mc->W, mc->C}, .data = x};
    rp_ctx *ctx = rp_ctx_create(1);
    if (rp_st_write(ctx, path, &e, 1, NULL, NULL, 0) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    rp_ctx_destroy(ctx);
    return x;
}

static float *read_logits(const char *path, int N, int K)
{
    rp_ctx *ctx = rp_ctx_create(1);
    rp_st_file *f = NULL;
    if (rp_st_open(ctx, path, &f) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    const rp_st_tensor *t = rp_st_find(f, "logits");
    assert_non_null(t);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], N);
    assert_int_equal(t->shape[1], K);
    float *y = malloc((size_t)N * K * sizeof *y);
    assert_int_equal(rp_st_read_f32(ctx, f, "logits", y, (size_t)N * K), RP_OK);
    rp_st_close(f);
    rp_ctx_destroy(ctx);
    return y;
}

/* max |got - want| / max(1, max |want|): the logits' scale grows with the widened heads */
static float scaled_diff(const float *got, const float *want, size_t n)
{
    float d = 0.0f, scale = 1.0f;
    for (size_t i = 0; i < n; i++) {
        d = fmaxf(d, fabsf(got[i] - want[i]));
        scale = fmaxf(scale, fabsf(want[i]));
    }
    return d / scale;
}

static void check_logits(const char *direction, const model_case *mc, const float *got, const float *want, int N)
{
    float d = scaled_diff(got, want, (size_t)N * mc->K), scale = 0.0f;
    for (size_t i = 0; i < (size_t)N * mc->K; i++) scale = fmaxf(scale, fabsf(want[i]));
    printf("  %s %-15s %2dx%2dx%d: max |logit| %5.3g, max |diff| / max(1, max |logit|) = %.2g (tol %.0e)\n",
           direction, mc->arch, mc->H, mc->W, mc->C, (double)scale, (double)d, (double)TOL);
    if (!(d <= TOL))
        fail_msg("%s %s %dx%dx%d: max |torch - rampart| / max(1, max |logit|) = %g > %g", direction, mc->arch, mc->H,
                 mc->W, mc->C, (double)d, (double)TOL);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* Batch norms' weights and biases (1 and 0 at init) and linear and conv biases drawn at
 * random, so that they matter in the comparison. */
static void randomize_vectors(rp_model *m, uint64_t seed)
{
    for (int i = 0; i < m->g.n_params; i++) {
        rp_param *p = &m->g.params[i];
        if (p->ndim != 1 || p->is_int64) continue;
        if (ends_with(p->name, ".weight")) tu_fill_uniform(p->data, p->numel, 0.5f, 1.5f, seed + (uint64_t)i);
        else if (ends_with(p->name, ".bias")) tu_fill_uniform(p->data, p->numel, -0.25f, 0.25f, seed + (uint64_t)i);
    }
}

/* The checkpoints are up to 94 MB: not left behind in the temporary directory. */
static void remove_files(const char *a, const char *b, const char *c)
{
    remove(a);
    remove(b);
    remove(c);
}

/* Logits (N, K) spread enough that a wrong layout could not pass by being near zero, and
 * differing between the images by more than 1% of their scale, so that they depend on the
 * input (and on the layers near it) rather than on the batch norms' biases alone. */
static void assert_informative(const float *y, int N, int K)
{
    float lo = y[0], hi = y[0], scale = 1.0f, across = 0.0f;
    for (size_t i = 0; i < (size_t)N * K; i++) {
        lo = fminf(lo, y[i]);
        hi = fmaxf(hi, y[i]);
        scale = fmaxf(scale, fabsf(y[i]));
        across = fmaxf(across, fabsf(y[i] - y[i % (size_t)K]));
    }
    if (!(hi - lo > 0.05f)) fail_msg("logits span only %g", (double)(hi - lo));
    if (!(across > 0.01f * scale)) fail_msg("logits differ between images by only %g (scale %g)", (double)across, (double)scale);
}

/* Fresh BatchNorm statistics (0, 1) make torchvision's deep nets output ~0 in eval mode
 * (PyTorch too): one training-mode pass at momentum 1 gives them the images' statistics, plus
 * a floor on the variances (tests/torch_logits.py does the same on the torch side). Deep
 * features of random nets vary little across images, so a channel's variance can be tiny
 * next to its mean, and (x - mean) / sqrt(var + 1e-5) amplifies rounding: without a floor,
 * PyTorch's own float32 logits differ from its float64 ones by up to 2e-4 of their scale. A
 * floor of 0.25 brings that to ~2e-6 for the residual nets (resnets, densenet121), whose
 * logits still follow the images; in mobilenet_v2 and efficientnet_b0 it drowns the images'
 * differences (the same logits for every image: a stem with the wrong padding passed), so
 * they take the largest floor that keeps the logits apart between images, 1e-3 and 3e-4
 * (float32 error ~2e-6). assert_informative checks that the logits differ between images. */
static void calibrate_bn(rp_model *m, const float *x, int N, float var_floor)
{
    rp_model_adapt_bn_batch(m, x, N);
    for (int i = 0; i < m->g.n_params; i++) {
        rp_param *p = &m->g.params[i];
        if (ends_with(p->name, ".running_var"))
            for (size_t k = 0; k < p->numel; k++) p->data[k] += var_floor;
    }
}

#define FLOOR_RES 0.25f /* resnets, densenet121 */
#define FLOOR_MNV2 1e-3f
#define FLOOR_EFFNET 3e-4f

/* rampart -> torch */
static const model_case CASES[] = {
    {"smallcnn", 28, 28, 1, 10, 0}, /* Fashion-MNIST's shape */
    {"smallcnn", 13, 10, 3, 3, 0},  /* odd sizes (floor pooling), three channels */
    {"mlp", 6, 5, 2, 4, 0},
    {"mobilenet_v2", 32, 32, 3, 5, FLOOR_MNV2}, /* torchvision's modules, rampart's normalisation */
    {"resnet18_cifar", 16, 16, 3, 4, FLOOR_RES},
    /* the big ones at 28-32 px, layer4 / denseblock4 / features.7 at 1x1 (DenseNet's pools
     * need 32: at 28, transition3 would pool 1x1 to 0x0) */
    {"resnet50", 32, 32, 3, 5, FLOOR_RES},
    {"resnext50_32x4d", 32, 32, 3, 4, FLOOR_RES},
    {"densenet121", 32, 32, 3, 6, FLOOR_RES},
    {"efficientnet_b0", 28, 28, 1, 10, FLOOR_EFFNET}, /* 1 channel: the stem conv reads 1 */
};
#define N_CASES ((int)(sizeof CASES / sizeof CASES[0]))

static void test_rampart_to_torch(void **state)
{
    (void)state;
    enum { N = 5 };
    const char *dir = tu_tmpdir();
    rp_ctx *ctx = rp_ctx_create(1);
    float *want[N_CASES];
    char args[6000] = "";
    char ckpt[N_CASES][512], imgs[N_CASES][512], outs[N_CASES][512];
    for (int c = 0; c < N_CASES; c++) {
        const model_case *mc = &CASES[c];
        snprintf(ckpt[c], sizeof ckpt[c], "%s/r2t-%d.safetensors", dir, c);
        snprintf(imgs[c], sizeof imgs[c], "%s/r2t-%d-x.safetensors", dir, c);
        snprintf(outs[c], sizeof outs[c], "%s/r2t-%d-y.safetensors", dir, c);
        rp_model_config cfg = {.arch = mc->arch, .num_classes = mc->K, .H = mc->H, .W = mc->W, .C = mc->C,
                               .max_batch = N, .seed = 11 + (uint64_t)c};
        for (int ch = 0; ch < mc->C; ch++) {
            cfg.mean[ch] = 0.2f + 0.1f * (float)ch;
            cfg.std[ch] = 0.35f - 0.05f * (float)ch;
        }
        rp_model *m = NULL;
        if (rp_model_create(ctx, &cfg, &m) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
        /* torchvision's classifier init (normal, std 0.01) gives near-equal logits: widen the
         * last linear layer so that a wrong activation anywhere shows in the comparison */
        rp_param *head = &m->g.params[m->g.n_params - 2];
        if (head->ndim == 2) tu_fill_uniform(head->data, head->numel, -0.5f, 0.5f, 5 + (uint64_t)c);
        randomize_vectors(m, 1000 * (uint64_t)(c + 1));
        float *x = write_images(imgs[c], N, mc, 100 + (uint64_t)c);
        calibrate_bn(m, x, N, mc->var_floor);
        want[c] = malloc((size_t)N * mc->K * sizeof(float));
        memcpy(want[c], rp_model_forward(m, x, N, false), (size_t)N * mc->K * sizeof(float));
        assert_informative(want[c], N, mc->K);
        if (rp_model_save(ctx, m, ckpt[c], NULL) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
        size_t at = strlen(args);
        snprintf(args + at, sizeof args - at, " '%s' '%s' '%s'", ckpt[c], imgs[c], outs[c]);
        free(x);
        rp_model_destroy(m);
    }
    run_python(args);
    for (int c = 0; c < N_CASES; c++) {
        float *got = read_logits(outs[c], N, CASES[c].K);
        check_logits("rampart -> torch", &CASES[c], got, want[c], N);
        remove_files(ckpt[c], imgs[c], outs[c]);
        free(got);
        free(want[c]);
    }
    rp_ctx_destroy(ctx);
}

/* torch -> rampart; the first is checked for its metadata and class names too */
static const model_case EXPORTS[] = {
    {"smallcnn", 12, 12, 3, 6, 0},
    {"resnet50", 28, 28, 1, 10, FLOOR_RES}, /* 1 channel: conv1 reads 1 */
    {"resnext50_32x4d", 32, 32, 3, 5, FLOOR_RES},
    {"densenet121", 32, 32, 1, 4, FLOOR_RES}, /* features.conv0 reads 1 */
    {"efficientnet_b0", 32, 32, 3, 5, FLOOR_EFFNET},
};
#define N_EXPORTS ((int)(sizeof EXPORTS / sizeof EXPORTS[0]))

static void test_torch_to_rampart(void **state)
{
    (void)state;
    enum { N = 4 };
    const char *dir = tu_tmpdir();
    char ckpt[N_EXPORTS][512], imgs[N_EXPORTS][512], outs[N_EXPORTS][512], args[8000] = "";
    float *x[N_EXPORTS];
    for (int c = 0; c < N_EXPORTS; c++) {
        const model_case *mc = &EXPORTS[c];
        snprintf(ckpt[c], sizeof ckpt[c], "%s/t2r-%d.safetensors", dir, c);
        snprintf(imgs[c], sizeof imgs[c], "%s/t2r-%d-x.safetensors", dir, c);
        snprintf(outs[c], sizeof outs[c], "%s/t2r-%d-y.safetensors", dir, c);
        x[c] = write_images(imgs[c], N, mc, 7 + (uint64_t)c);
        size_t at = strlen(args);
        snprintf(args + at, sizeof args - at, " export %s %d %d %d %d %d %g '%s' '%s' '%s'", mc->arch, mc->H, mc->W,
                 mc->C, mc->K, 3 + c, (double)mc->var_floor, ckpt[c], imgs[c], outs[c]);
    }
    run_python(args);

    rp_ctx *ctx = rp_ctx_create(1);
    for (int c = 0; c < N_EXPORTS; c++) {
        const model_case *mc = &EXPORTS[c];
        float *want = read_logits(outs[c], N, mc->K);
        assert_informative(want, N, mc->K);
        rp_model *m = NULL;
        if (rp_model_load(ctx, ckpt[c], N, &m) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
        const rp_model_config *cfg = rp_model_get_config(m);
        assert_string_equal(cfg->arch, mc->arch);
        assert_true(cfg->H == mc->H && cfg->W == mc->W && cfg->C == mc->C && cfg->num_classes == mc->K);
        assert_true(cfg->mean[0] == 0.25f && cfg->std[0] == 0.3f); /* torch's metadata */
        if (mc->C == 3) assert_true(cfg->mean[1] == 0.375f && cfg->std[2] == 0.425f);
        check_logits("torch -> rampart", mc, rp_model_forward(m, x[c], N, false), want, N);
        if (c == 0) {
            char **names = NULL;
            int n = 0;
            assert_int_equal(rp_checkpoint_class_names(ctx, ckpt[c], &names, &n), RP_OK);
            assert_int_equal(n, mc->K);
            assert_string_equal(names[5], "class 5");
            rp_checkpoint_free_names(names, n);
        }
        rp_model_destroy(m);
        remove_files(ckpt[c], imgs[c], outs[c]);
        free(want);
        free(x[c]);
    }
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rampart_to_torch),
        cmocka_unit_test(test_torch_to_rampart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
