/* Checkpoint interop with PyTorch: a checkpoint written by rampart loads into
 * python/rampart_torch.py (strict load_state_dict) and gives the same logits, and one
 * written by rampart_torch.save loads into rampart and gives the same logits.
 * Tolerance: max |rampart - torch| <= 1e-4 (float32 sums in different orders). */
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

static float max_abs_diff(const float *a, const float *b, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

/* Logits spread enough that a wrong layout could not pass by being near zero. */
static void assert_informative(const float *y, size_t n)
{
    float lo = y[0], hi = y[0];
    for (size_t i = 1; i < n; i++) {
        lo = fminf(lo, y[i]);
        hi = fmaxf(hi, y[i]);
    }
    if (!(hi - lo > 0.05f)) fail_msg("logits span only %g", (double)(hi - lo));
}

static const model_case CASES[] = {
    {"smallcnn", 28, 28, 1, 10}, /* Fashion-MNIST's shape */
    {"smallcnn", 13, 10, 3, 3},  /* odd sizes (floor pooling), three channels */
    {"mlp", 6, 5, 2, 4},
    {"mobilenet_v2", 32, 32, 3, 5}, /* torchvision's modules, rampart's normalisation */
    {"resnet18_cifar", 16, 16, 3, 4},
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
        float *x = write_images(imgs[c], N, mc, 100 + (uint64_t)c);
        /* fresh BatchNorm statistics (0, 1) make torchvision's deep nets output ~0 in eval
         * mode (PyTorch too): a few training-mode passes give them real running statistics */
        for (int k = 0; k < 30; k++) rp_model_forward(m, x, N, true);
        want[c] = malloc((size_t)N * mc->K * sizeof(float));
        memcpy(want[c], rp_model_forward(m, x, N, false), (size_t)N * mc->K * sizeof(float));
        assert_informative(want[c], (size_t)N * mc->K);
        if (rp_model_save(ctx, m, ckpt[c], NULL) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
        size_t at = strlen(args);
        snprintf(args + at, sizeof args - at, " '%s' '%s' '%s'", ckpt[c], imgs[c], outs[c]);
        free(x);
        rp_model_destroy(m);
    }
    run_python(args);
    for (int c = 0; c < N_CASES; c++) {
        float *got = read_logits(outs[c], N, CASES[c].K);
        float d = max_abs_diff(got, want[c], (size_t)N * CASES[c].K);
        if (!(d <= TOL)) fail_msg("%s %dx%dx%d: max |torch - rampart| = %g > %g", CASES[c].arch, CASES[c].H,
                                  CASES[c].W, CASES[c].C, (double)d, (double)TOL);
        free(got);
        free(want[c]);
    }
    rp_ctx_destroy(ctx);
}

static void test_torch_to_rampart(void **state)
{
    (void)state;
    enum { N = 4 };
    const model_case mc = {"smallcnn", 12, 12, 3, 6};
    const char *dir = tu_tmpdir();
    char ckpt[512], imgs[512], outs[512], args[2000];
    snprintf(ckpt, sizeof ckpt, "%s/t2r.safetensors", dir);
    snprintf(imgs, sizeof imgs, "%s/t2r-x.safetensors", dir);
    snprintf(outs, sizeof outs, "%s/t2r-y.safetensors", dir);
    float *x = write_images(imgs, N, &mc, 7);
    snprintf(args, sizeof args, "export %s %d %d %d %d 3 '%s' '%s' '%s'", mc.arch, mc.H, mc.W, mc.C, mc.K, ckpt, imgs,
             outs);
    run_python(args);
    float *want = read_logits(outs, N, mc.K);

    rp_ctx *ctx = rp_ctx_create(1);
    rp_model *m = NULL;
    if (rp_model_load(ctx, ckpt, N, &m) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    const rp_model_config *cfg = rp_model_get_config(m);
    assert_true(cfg->mean[1] == 0.375f && cfg->std[2] == 0.425f); /* torch's metadata */
    const float *got = rp_model_forward(m, x, N, false);
    float d = max_abs_diff(got, want, (size_t)N * mc.K);
    if (!(d <= TOL)) fail_msg("torch -> rampart: max |diff| = %g > %g", (double)d, (double)TOL);
    char **names = NULL;
    int n = 0;
    assert_int_equal(rp_checkpoint_class_names(ctx, ckpt, &names, &n), RP_OK);
    assert_int_equal(n, mc.K);
    assert_string_equal(names[5], "class 5");
    rp_checkpoint_free_names(names, n);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
    free(x);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rampart_to_torch),
        cmocka_unit_test(test_torch_to_rampart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
