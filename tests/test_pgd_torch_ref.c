/* rampart's PGD against an independent PyTorch PGD (tests/torch_pgd.py): a smallcnn trained
 * here (1 epoch on 3,000 Fashion-MNIST images), saved, and attacked by both on the same 1,000
 * test images with the same eps / steps / step size and no random start. Robust accuracies
 * must agree within 1 percentage point; clean accuracy within 0.2 points (float rounding of
 * two implementations may flip a near-tie). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "robust/attack.h"
#include "testutil.h"

enum { N_TRAIN = 3000, N_TEST = 1000, TRAIN_B = 100, ATTACK_B = 250, STEPS = 10 };
static const float EPSS[] = {0.05f};
#define N_EPS 1

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    s[n] = 0;
    fclose(f);
    return s;
}

static void test_pgd_matches_torch(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    rp_dataset *tr = NULL, *te = NULL;
    assert_int_equal(rp_dataset_open(ctx, "fashion-mnist", true, &tr), RP_OK);
    assert_int_equal(rp_dataset_open(ctx, "fashion-mnist", false, &te), RP_OK);
    rp_dataset_truncate(tr, N_TRAIN);
    int H, W, C;
    rp_dataset_shape(tr, &H, &W, &C);
    int K = rp_dataset_num_classes(tr);
    size_t X = (size_t)H * W * C;
    rp_model_config mc = {.arch = "smallcnn", .num_classes = K, .H = H, .W = W, .C = C, .max_batch = ATTACK_B, .seed = 2};
    rp_dataset_norm(tr, mc.mean, mc.std);
    rp_model *m = NULL;
    assert_int_equal(rp_model_create(ctx, &mc, &m), RP_OK);
    rp_objective_config oc = rp_objective_defaults();
    rp_optim_config sgd = rp_optim_defaults(RP_SGD);
    sgd.lr = 0.05f, sgd.momentum = 0.9f;
    rp_objective *obj = NULL;
    rp_optim *opt = NULL;
    assert_int_equal(rp_objective_create(ctx, m, &oc, TRAIN_B, &obj), RP_OK);
    assert_int_equal(rp_optim_create(ctx, m, &sgd, &opt), RP_OK);
    float *x = malloc((size_t)N_TEST * X * sizeof(float)), *xa = malloc((size_t)ATTACK_B * X * sizeof(float));
    int32_t *y = malloc(N_TEST * sizeof(int32_t));
    bool *succ = malloc(N_TEST * sizeof(bool));
    int *idx = malloc(N_TEST > N_TRAIN ? N_TEST * sizeof(int) : N_TRAIN * sizeof(int));
    rp_permutation(idx, N_TRAIN, 9, 0);
    for (int b = 0; b < N_TRAIN / TRAIN_B; b++) {
        rp_dataset_gather(tr, idx + b * TRAIN_B, TRAIN_B, x, y);
        assert_int_equal(rp_train_step(obj, opt, x, y, TRAIN_B, NULL), RP_OK);
    }
    for (int i = 0; i < N_TEST; i++) idx[i] = i;
    rp_dataset_gather(te, idx, N_TEST, x, y);

    char ckpt[512], xp[512], yp[512], out[512], cmd[4096];
    const char *dir = tu_tmpdir();
    snprintf(ckpt, sizeof ckpt, "%s/pgd_smallcnn.safetensors", dir);
    snprintf(xp, sizeof xp, "%s/pgd_x.f32", dir);
    snprintf(yp, sizeof yp, "%s/pgd_y.i32", dir);
    snprintf(out, sizeof out, "%s/pgd_torch.json", dir);
    assert_int_equal(rp_model_save(ctx, m, ckpt, NULL), RP_OK);
    tu_write_file(xp, x, (size_t)N_TEST * X * sizeof(float));
    tu_write_file(yp, y, N_TEST * sizeof(int32_t));
    const char *py = getenv("RAMPART_TORCH_PYTHON"), *src = getenv("RAMPART_SOURCE_DIR");
    int n = snprintf(cmd, sizeof cmd, "%s %s/tests/torch_pgd.py %s %s %s %d %d %d %d %d %s", py ? py : "/usr/bin/python3",
                     src ? src : ".", ckpt, xp, yp, N_TEST, H, W, C, STEPS, out);
    for (int e = 0; e < N_EPS; e++)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " %.9g %.9g", (double)EPSS[e], (double)(2.5f * EPSS[e] / STEPS));
    if (system(cmd) != 0) fail_msg("failed: %s", cmd);
    char *json = read_all(out);
    assert_non_null(json);
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    cJSON *runs = cJSON_GetObjectItem(root, "runs");
    assert_int_equal(cJSON_GetArraySize(runs), N_EPS);

    const float *z;
    int clean = 0;
    for (int s = 0; s < N_TEST; s += ATTACK_B) {
        z = rp_model_forward(m, x + (size_t)s * X, ATTACK_B, false);
        int c = 0;
        rp_softmax_xent(z, y + s, ATTACK_B, K, 0.0f, NULL, 1.0f, &c);
        clean += c;
    }
    double torch_clean = cJSON_GetObjectItem(root, "clean")->valuedouble;
    printf("# clean accuracy: rampart %.4f, torch %.4f\n", (double)clean / N_TEST, torch_clean);
    assert_true(fabs((double)clean / N_TEST - torch_clean) <= 0.002);
    for (int e = 0; e < N_EPS; e++) {
        rp_attack_config c = rp_attack_defaults(RP_ATTACK_PGD, EPSS[e]);
        c.random_start = false, c.steps = STEPS; /* step: the default 2.5 eps / steps */
        rp_attack *a = NULL;
        assert_int_equal(rp_attack_create(ctx, m, &c, ATTACK_B, &a), RP_OK);
        for (int s = 0; s < N_TEST; s += ATTACK_B)
            assert_int_equal(rp_attack_run(a, x + (size_t)s * X, y + s, NULL, ATTACK_B, xa, succ + s, NULL), RP_OK);
        rp_attack_destroy(a);
        cJSON *run = cJSON_GetArrayItem(runs, e);
        const char *robust = cJSON_GetObjectItem(run, "robust")->valuestring;
        double acc_t = cJSON_GetObjectItem(run, "accuracy")->valuedouble;
        int rob = 0, agree = 0;
        for (int i = 0; i < N_TEST; i++) {
            rob += !succ[i];
            agree += (robust[i] == '1') == !succ[i];
        }
        double acc_r = (double)rob / N_TEST;
        printf("# PGD-%d eps %.3f step %.4f on %d images: robust accuracy rampart %.4f, torch %.4f "
               "(per-example verdicts agree on %d)\n", STEPS, (double)EPSS[e], (double)(2.5f * EPSS[e] / STEPS), N_TEST,
               acc_r, acc_t, agree);
        assert_true(acc_r < (double)clean / N_TEST - 0.05); /* the attack bites */
        assert_true(fabs(acc_r - acc_t) <= 0.01);
    }
    cJSON_Delete(root);
    free(json);
    free(x), free(xa), free(y), free(succ), free(idx);
    rp_objective_destroy(obj);
    rp_optim_destroy(opt);
    rp_model_destroy(m);
    rp_dataset_destroy(tr);
    rp_dataset_destroy(te);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_pgd_matches_torch)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
