/* Training augmentations: the spec syntax and its errors, each op's exact effect, firing
 * frequency, and determinism from the seed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/augment.h"
#include "data/augmix.h"
#include "data/corrupt.h"
#include "testutil.h"

static void test_parse(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_augment_op ops[RP_AUGMENT_MAX_OPS];
    int n = -1;
    assert_int_equal(rp_augment_parse(ctx, "flip,crop:4,gaussian:0.1@0.3,jitter,shot,saltpepper:0.02", 0.5f, ops, &n),
                     RP_OK);
    assert_int_equal(n, 8);
    assert_int_equal(ops[0].kind, RP_AUG_FLIP);
    assert_float_equal(ops[0].prob, 0.5, 0);
    assert_int_equal(ops[1].kind, RP_AUG_CROP);
    assert_float_equal(ops[1].strength, 4, 0);
    assert_int_equal(ops[2].kind, RP_AUG_GAUSSIAN);
    assert_float_equal(ops[2].strength, 0.1, 1e-7);
    assert_float_equal(ops[2].prob, 0.3, 1e-7);
    assert_int_equal(ops[3].kind, RP_AUG_BRIGHTNESS); /* jitter expands in this order */
    assert_int_equal(ops[4].kind, RP_AUG_CONTRAST);
    assert_int_equal(ops[5].kind, RP_AUG_SATURATION);
    assert_float_equal(ops[5].strength, 0.2, 1e-7);
    assert_int_equal(ops[6].kind, RP_AUG_SHOT);
    assert_float_equal(ops[6].strength, 60, 0);
    assert_int_equal(ops[7].kind, RP_AUG_SALTPEPPER);
    assert_float_equal(ops[7].strength, 0.02, 1e-7);
    assert_int_equal(rp_augment_parse(ctx, "", 0.5f, ops, &n), RP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(rp_augment_parse(ctx, "flip@1", 0.5f, ops, &n), RP_OK);
    assert_float_equal(ops[0].prob, 1, 0);

    static const struct { const char *spec, *needle; } bad[] = {
        {"flop", "unknown augmentation 'flop'"}, {"crop:x", "bad strength in 'crop:x'"},
        {"crop:2.5", "whole number"},            {"gaussian:0.1@1.5", "bad probability"},
        {"flip:3", "'flip' takes no strength"},   {"flip,,crop", "empty item"},
        {"flip,", "empty item"},                  {"brightness:2", "bad strength"},
        {"gaussian@0.5:0.1", "malformed"},        {"shot:0", "bad strength"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(rp_augment_parse(ctx, bad[i].spec, 0.5f, ops, &n), RP_ERR_ARG);
        if (!strstr(rp_ctx_error(ctx), bad[i].needle)) fail_msg("'%s': message '%s'", bad[i].spec, rp_ctx_error(ctx));
    }
    rp_augment *a = NULL;
    assert_int_equal(rp_augment_create(ctx, "crop:28", 0.5f, 1, 28, 28, 1, &a), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(ctx), "smaller than the 28x28 image"));
    assert_int_equal(rp_augment_create(ctx, "flip", 1.5f, 1, 28, 28, 1, &a), RP_ERR_ARG);
    assert_null(a);
    rp_ctx_destroy(ctx);
}

static rp_augment *make(const char *spec, float prob, uint64_t seed, int H, int W, int C)
{
    rp_ctx *ctx = rp_ctx_create(1);
    rp_augment *a = NULL;
    if (rp_augment_create(ctx, spec, prob, seed, H, W, C, &a) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    rp_ctx_destroy(ctx);
    return a;
}

/* flip@1 mirrors every row exactly (per pixel, channels kept together); twice is identity. */
static void test_flip(void **state)
{
    (void)state;
    const int B = 2, H = 3, W = 5, C = 3;
    size_t X = (size_t)H * W * C, n = B * X;
    float *x = malloc(n * sizeof *x), *orig = malloc(n * sizeof *x);
    tu_fill_uniform(x, n, 0, 1, 1);
    memcpy(orig, x, n * sizeof *x);
    rp_augment *a = make("flip@1", 0.5f, 1, H, W, C);
    rp_augment_apply(a, x, B);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++)
                for (int c = 0; c < C; c++)
                    assert_true(x[b * X + ((size_t)i * W + j) * C + c] ==
                                orig[b * X + ((size_t)i * W + (W - 1 - j)) * C + c]);
    rp_augment_apply(a, x, B);
    assert_memory_equal(x, orig, n * sizeof *x);
    rp_augment_destroy(a);
    free(x), free(orig);
}

/* crop:P@1 output equals the input shifted by some (dy, dx) in [-P, P]^2 with zeros
 * coming in; over 200 images every shift in that range shows up and nothing outside it. */
static void test_crop(void **state)
{
    (void)state;
    const int H = 6, W = 7, C = 2, P = 2, N = 200;
    size_t X = (size_t)H * W * C;
    float *img = malloc(X * sizeof *img), *x = malloc(X * sizeof *x);
    for (size_t i = 0; i < X; i++) img[i] = 0.1f + 0.8f * (float)(i + 1) / (float)X; /* distinct, non-zero */
    rp_augment *a = make("crop:2@1", 0.5f, 2, H, W, C);
    int seen[5][5] = {{0}};
    for (int t = 0; t < N; t++) {
        memcpy(x, img, X * sizeof *x);
        rp_augment_apply(a, x, 1);
        int found = 0;
        for (int dy = -P; dy <= P; dy++)
            for (int dx = -P; dx <= P; dx++) {
                bool match = true;
                for (int i = 0; i < H && match; i++)
                    for (int j = 0; j < W && match; j++)
                        for (int c = 0; c < C; c++) {
                            int si = i + dy, sj = j + dx;
                            float want = si < 0 || si >= H || sj < 0 || sj >= W ? 0.0f : img[((size_t)si * W + sj) * C + c];
                            if (x[((size_t)i * W + j) * C + c] != want) match = false;
                        }
                if (match) seen[dy + P][dx + P]++, found++;
            }
        assert_int_equal(found, 1);
    }
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) assert_true(seen[i][j] > 0); /* 25 shifts, 200 draws: each ~8 */
    rp_augment *z = make("crop:0@1", 0.5f, 2, H, W, C); /* padding 0 is the identity */
    memcpy(x, img, X * sizeof *x);
    rp_augment_apply(z, x, 1);
    assert_memory_equal(x, img, X * sizeof *x);
    rp_augment_destroy(a), rp_augment_destroy(z);
    free(img), free(x);
}

/* brightness scales all values by one factor in [1-S, 1+S]; contrast keeps the gray mean
 * (no clipping here) and scales deviations by one factor; saturation keeps each pixel's
 * gray value and is the identity on C = 1 and on gray RGB pixels. Tolerance 1e-5. */
static void test_jitter(void **state)
{
    (void)state;
    const int H = 4, W = 5, C = 3;
    size_t X = (size_t)H * W * C;
    float *img = malloc(X * sizeof *img), *x = malloc(X * sizeof *x);
    tu_fill_uniform(img, X, 0.3f, 0.6f, 3);
    rp_augment *br = make("brightness:0.3@1", 0.5f, 4, H, W, C), *co = make("contrast:0.5@1", 0.5f, 5, H, W, C),
               *sa = make("saturation:0.5@1", 0.5f, 6, H, W, C);
    for (int t = 0; t < 20; t++) {
        memcpy(x, img, X * sizeof *x);
        rp_augment_apply(br, x, 1);
        float f = x[0] / img[0];
        assert_true(f >= 0.7f - 1e-6f && f <= 1.3f + 1e-6f);
        for (size_t i = 0; i < X; i++) assert_float_equal(x[i], img[i] * f, 1e-5);

        memcpy(x, img, X * sizeof *x);
        rp_augment_apply(co, x, 1);
        double m0 = 0, m1 = 0;
        for (size_t p = 0; p < X / 3; p++) {
            m0 += 0.299 * img[3 * p] + 0.587 * img[3 * p + 1] + 0.114 * img[3 * p + 2];
            m1 += 0.299 * x[3 * p] + 0.587 * x[3 * p + 1] + 0.114 * x[3 * p + 2];
        }
        assert_float_equal(m0, m1, 1e-4);
        float m = (float)(m0 / (double)(X / 3));
        size_t far = 0; /* the value farthest from the mean gives the factor most precisely */
        for (size_t i = 1; i < X; i++)
            if (fabsf(img[i] - m) > fabsf(img[far] - m)) far = i;
        float g = (x[far] - m) / (img[far] - m);
        assert_true(g >= 0.5f - 1e-4f && g <= 1.5f + 1e-4f);
        for (size_t i = 0; i < X; i++) assert_float_equal(x[i], m + (img[i] - m) * g, 1e-5);

        memcpy(x, img, X * sizeof *x);
        rp_augment_apply(sa, x, 1);
        for (size_t p = 0; p < X / 3; p++) {
            float g0 = 0.299f * img[3 * p] + 0.587f * img[3 * p + 1] + 0.114f * img[3 * p + 2];
            float g1 = 0.299f * x[3 * p] + 0.587f * x[3 * p + 1] + 0.114f * x[3 * p + 2];
            assert_float_equal(g0, g1, 1e-5);
        }
    }
    float gray[6] = {0.2f, 0.2f, 0.2f, 0.7f, 0.7f, 0.7f}, gray0[6];
    memcpy(gray0, gray, sizeof gray);
    rp_augment *sa2 = make("saturation:0.9@1", 0.5f, 7, 1, 2, 3), *sa1 = make("saturation:0.9@1", 0.5f, 7, 2, 3, 1);
    rp_augment_apply(sa2, gray, 1);
    for (int i = 0; i < 6; i++) assert_float_equal(gray[i], gray0[i], 1e-6);
    memcpy(gray, gray0, sizeof gray);
    rp_augment_apply(sa1, gray, 1); /* one channel: no saturation at all */
    assert_memory_equal(gray, gray0, sizeof gray);
    rp_augment_destroy(br), rp_augment_destroy(co), rp_augment_destroy(sa), rp_augment_destroy(sa2),
        rp_augment_destroy(sa1);
    free(img), free(x);
}

/* Probability: flip@0.3 fires on 30% of 4,000 images (4 binomial standard errors = 0.029);
 * probability 0 changes nothing for any op; results stay in [0, 1]. */
static void test_probability(void **state)
{
    (void)state;
    const int N = 4000, H = 2, W = 3, C = 1;
    size_t X = (size_t)H * W * C;
    float *x = malloc((size_t)N * X * sizeof *x), *orig = malloc((size_t)N * X * sizeof *x);
    for (int b = 0; b < N; b++)
        for (size_t i = 0; i < X; i++) orig[b * X + i] = (float)i / 8.0f; /* not mirror-symmetric */
    memcpy(x, orig, (size_t)N * X * sizeof *x);
    rp_augment *a = make("flip@0.3", 0.5f, 8, H, W, C);
    rp_augment_apply(a, x, N);
    int flipped = 0;
    for (int b = 0; b < N; b++) flipped += memcmp(x + b * X, orig + b * X, X * sizeof *x) != 0;
    assert_true(fabs(flipped / (double)N - 0.3) < 4 * sqrt(0.3 * 0.7 / N));
    rp_augment *z = make("flip,crop:1,jitter:0.9,gaussian:0.5,shot:5,saltpepper:0.5,erase", 0.0f, 9, H, W, C);
    memcpy(x, orig, (size_t)N * X * sizeof *x);
    rp_augment_apply(z, x, N);
    assert_memory_equal(x, orig, (size_t)N * X * sizeof *x);
    rp_augment *all = make("flip,crop:1,jitter:0.9,gaussian:0.5,shot:5,saltpepper:0.5,erase", 1.0f, 9, H, W, C);
    rp_augment_apply(all, x, N);
    for (size_t i = 0; i < (size_t)N * X; i++) assert_true(x[i] >= 0.0f && x[i] <= 1.0f);
    rp_augment_destroy(a), rp_augment_destroy(z), rp_augment_destroy(all);
    free(x), free(orig);
}

/* erase:S@1 on a constant image: the changed pixels are exactly one filled rectangle (every
 * pixel of its bounding box changed, all channels of a pixel together, one value per channel),
 * of area 0.02..S of the image up to rounding and aspect ratio 0.3..3.3 up to rounding; over
 * 3,000 draws the rectangles reach every border and the fill values spread over [0, 1). */
static void test_erase(void **state)
{
    (void)state;
    const int H = 28, W = 24, C = 3, N = 3000;
    const float S = 0.3f;
    size_t X = (size_t)H * W * C;
    float *x = malloc(X * sizeof *x);
    rp_augment *a = make("erase:0.3@1", 0.5f, 11, H, W, C);
    int top = 0, left = 0, bottom = 0, right = 0, dark = 0, bright = 0;
    for (int t = 0; t < N; t++) {
        for (size_t i = 0; i < X; i++) x[i] = 0.5f;
        rp_augment_apply(a, x, 1);
        int y0 = H, y1 = -1, x0 = W, x1 = -1;
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++)
                if (x[((size_t)i * W + j) * C] != 0.5f) {
                    y0 = i < y0 ? i : y0, y1 = i > y1 ? i : y1, x0 = j < x0 ? j : x0, x1 = j > x1 ? j : x1;
                }
        assert_true(y1 >= 0); /* at S = 0.3 on 28 x 24 some draw of the 10 always fits */
        int h = y1 - y0 + 1, w = x1 - x0 + 1;
        const float *f = x + ((size_t)y0 * W + x0) * C;
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++)
                for (int c = 0; c < C; c++) {
                    bool in = i >= y0 && i <= y1 && j >= x0 && j <= x1;
                    assert_float_equal(x[((size_t)i * W + j) * C + c], in ? f[c] : 0.5f, 0);
                }
        float area = (float)(h * w) / (float)(H * W), ar = (float)h / (float)w;
        float slack = (float)(h + w + 1) / (float)(H * W); /* each side rounds by at most half a pixel */
        assert_true(area >= 0.02f - slack && area <= S + slack);
        assert_true(ar >= 0.3f * (h - 0.5f) / (h + 0.5f) * (w - 0.5f) / (w + 0.5f) &&
                    ar <= (1 / 0.3f) * (h + 0.5f) / (h - 0.5f) * (w + 0.5f) / (w - 0.5f));
        top += y0 == 0, left += x0 == 0, bottom += y1 == H - 1, right += x1 == W - 1;
        dark += f[0] < 0.1f, bright += f[0] > 0.9f;
    }
    assert_true(top > 0 && left > 0 && bottom > 0 && right > 0);
    assert_true(fabs(dark / (double)N - 0.1) < 0.03 && fabs(bright / (double)N - 0.1) < 0.03);

    /* Where no rectangle fits (a 1 x 8 image: h < 1 is impossible) the image is unchanged; on
     * 2 x 2 only 1 x 1 fits: at most one pixel changes, never a partial or out-of-range write. */
    rp_augment *line = make("erase:1@1", 0.5f, 12, 1, 8, 1), *tiny = make("erase:1@1", 0.5f, 12, 2, 2, 1);
    int changed_any = 0;
    for (int t = 0; t < 200; t++) {
        float v[8] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f}, u[4] = {0.5f, 0.5f, 0.5f, 0.5f};
        rp_augment_apply(line, v, 1);
        for (int i = 0; i < 8; i++) assert_float_equal(v[i], 0.5f, 0);
        rp_augment_apply(tiny, u, 1);
        int changed = 0;
        for (int i = 0; i < 4; i++) changed += u[i] != 0.5f;
        assert_true(changed <= 1);
        changed_any += changed;
    }
    assert_true(changed_any > 0);

    rp_ctx *ctx = rp_ctx_create(1);
    rp_augment_op ops[RP_AUGMENT_MAX_OPS];
    int n;
    assert_int_equal(rp_augment_parse(ctx, "erase", 0.5f, ops, &n), RP_OK);
    assert_true(ops[0].kind == RP_AUG_ERASE && ops[0].strength == 0.4f);
    assert_int_equal(rp_augment_families(ops, n), 1u << RP_FAMILY_OCCLUSION);
    assert_int_equal(rp_augment_parse(ctx, "erase:0.01", 0.5f, ops, &n), RP_ERR_ARG);
    assert_int_equal(rp_augment_parse(ctx, "erase:1.5", 0.5f, ops, &n), RP_ERR_ARG);
    rp_ctx_destroy(ctx);
    rp_augment_destroy(a), rp_augment_destroy(line), rp_augment_destroy(tiny);
    free(x);
}

/* RandConv's filter against a direct double-precision evaluation of its formula; a centred
 * identity kernel gives the image back and a 1 x 1 kernel of -1 mirrors it about its mean. */
static void test_randconv_filter(void **state)
{
    (void)state;
    const int H = 9, W = 7, C = 3, k = 5, r = k / 2;
    size_t X = (size_t)H * W * C;
    float x[9 * 7 * 3], out[9 * 7 * 3], w[5 * 5 * 3 * 3];
    tu_fill_uniform(x, X, 0.0f, 1.0f, 31);
    tu_fill_uniform(w, sizeof w / sizeof *w, -0.5f, 0.5f, 32);
    const float alpha = 0.3f;
    rp_randconv_apply(x, out, H, W, C, w, k, alpha);
    double m[3] = {0};
    for (size_t p = 0; p < (size_t)H * W; p++)
        for (int c = 0; c < C; c++) m[c] += x[p * C + c] / (double)(H * W);
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++)
            for (int co = 0; co < C; co++) {
                double acc = m[co];
                for (int dy = -r; dy <= r; dy++)
                    for (int dx = -r; dx <= r; dx++)
                        for (int ci = 0; ci < C; ci++)
                            if (i + dy >= 0 && i + dy < H && j + dx >= 0 && j + dx < W)
                                acc += w[((dy + r) * k + dx + r) * C * C + ci * C + co] *
                                       (x[((i + dy) * W + j + dx) * C + ci] - m[ci]);
                double y = acc < 0 ? 0 : acc > 1 ? 1 : acc;
                double want = alpha * x[(i * W + j) * C + co] + (1 - alpha) * y;
                assert_float_equal(out[(i * W + j) * C + co], want, 1e-5);
            }
    float id[3 * 3 * 3 * 3] = {0};
    for (int c = 0; c < C; c++) id[(1 * 3 + 1) * C * C + c * C + c] = 1.0f;
    rp_randconv_apply(x, out, H, W, C, id, 3, 0.0f);
    for (size_t i = 0; i < X; i++) assert_float_equal(out[i], x[i], 1e-6);
    float g[16], inv[16], minus = -1.0f;
    tu_fill_uniform(g, 16, 0.3f, 0.7f, 33);
    double gm = 0;
    for (int i = 0; i < 16; i++) gm += g[i] / 16.0;
    rp_randconv_apply(g, inv, 4, 4, 1, &minus, 1, 0.0f);
    for (int i = 0; i < 16; i++) assert_float_equal(inv[i], 2 * gm - g[i], 1e-6);
}

/* randconv:7@1 on a gray image with one bright pixel: the pixels that differ from the far
 * background are exactly the k x k square the kernel reaches, so each draw shows its size;
 * over 2,000 draws the four sizes 1, 3, 5, 7 each come up a quarter of the time, every value
 * stays in [0, 1], and the op's families are blur and digital. */
static void test_randconv(void **state)
{
    (void)state;
    const int H = 17, W = 17, N = 2000;
    float x[17 * 17];
    int count[8] = {0};
    rp_augment *a = make("randconv:7@1", 0.5f, 21, H, W, 1);
    for (int t = 0; t < N; t++) {
        for (int i = 0; i < H * W; i++) x[i] = 0.5f;
        x[8 * W + 8] = 1.0f;
        rp_augment_apply(a, x, 1);
        float far = x[4 * W + 4]; /* (4, 4): the 7 x 7 kernel around it stays inside */
        int reach = -1;
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                assert_true(x[i * W + j] >= 0.0f && x[i * W + j] <= 1.0f);
                int d = abs(i - 8) > abs(j - 8) ? abs(i - 8) : abs(j - 8);
                bool interior = i >= 3 && i < H - 3 && j >= 3 && j < W - 3;
                if (interior && x[i * W + j] != far && d > reach) reach = d;
            }
        assert_true(reach >= 0 && reach <= 3);
        count[2 * reach + 1]++;
    }
    for (int k = 1; k <= 7; k += 2) assert_true(fabs(count[k] / (double)N - 0.25) < 0.05);

    rp_ctx *ctx = rp_ctx_create(1);
    rp_augment_op ops[RP_AUGMENT_MAX_OPS];
    int n;
    assert_int_equal(rp_augment_parse(ctx, "randconv", 0.5f, ops, &n), RP_OK);
    assert_true(ops[0].kind == RP_AUG_RANDCONV && ops[0].strength == 7.0f && ops[0].prob == 0.5f);
    assert_int_equal(rp_augment_families(ops, n), 1u << RP_FAMILY_BLUR | 1u << RP_FAMILY_DIGITAL);
    assert_int_equal(rp_augment_parse(ctx, "augmix,randconv:3", 0.5f, ops, &n), RP_OK); /* after a mixing op: views */
    assert_int_equal(rp_augment_mix_index(ops, n), 0);
    const char *bad[] = {"randconv:4", "randconv:9", "randconv:2.5", "randconv:0"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(rp_augment_parse(ctx, bad[i], 0.5f, ops, &n), RP_ERR_ARG);
        assert_non_null(strstr(rp_ctx_error(ctx), "randconv"));
    }
    rp_ctx_destroy(ctx);
    rp_augment_destroy(a);
}

/* elastic:S@1 is the elastic_transform corruption at a severity uniform over 1..S with a
 * seed from the op's stream: each result equals one of rp_corrupt_image's S candidates for
 * the same draws, every severity 1..S comes up (about 1/S of 600 draws), none above S; the
 * strength is a whole severity 1..5; its families are digital and geometric. */
static void test_elastic(void **state)
{
    (void)state;
    enum { H = 28, W = 28, C = 1, S = 3, N = 600 };
    float x0[H * W], x[H * W], cand[H * W];
    tu_fill_uniform(x0, H * W, 0.0f, 1.0f, 8);
    rp_augment *a = make("elastic:3@1", 0.5f, 5, H, W, C);
    float *scratch = malloc(rp_corrupt_scratch_floats(RP_CORR_ELASTIC, H, W, C) * sizeof(float));
    rp_rng mirror;
    rp_rng_seed(&mirror, 5, RP_STREAM_AUGMENT);
    int count[S + 1] = {0};
    for (int t = 0; t < N; t++) {
        memcpy(x, x0, sizeof x);
        rp_augment_apply(a, x, 1);
        (void)rp_rng_uniform(&mirror); /* the op's probability draw */
        int sev = 1 + (int)rp_rng_below(&mirror, S);
        uint64_t hi = rp_rng_u32(&mirror);
        uint64_t seed = hi << 32 | rp_rng_u32(&mirror);
        memcpy(cand, x0, sizeof cand);
        rp_corrupt_image(RP_CORR_ELASTIC, sev, cand, H, W, C, seed, 0, scratch);
        assert_memory_equal(x, cand, sizeof x);
        assert_memory_not_equal(x, x0, sizeof x);
        count[sev]++;
    }
    for (int s = 1; s <= S; s++) assert_true(fabs(count[s] / (double)N - 1.0 / S) < 0.06);
    free(scratch);
    rp_augment_destroy(a);

    rp_ctx *ctx = rp_ctx_create(1);
    rp_augment_op ops[RP_AUGMENT_MAX_OPS];
    int n;
    assert_int_equal(rp_augment_parse(ctx, "elastic", 0.5f, ops, &n), RP_OK);
    assert_true(ops[0].kind == RP_AUG_ELASTIC && ops[0].strength == 3.0f && ops[0].prob == 0.5f);
    assert_string_equal(rp_augment_name(RP_AUG_ELASTIC), "elastic");
    assert_int_equal(rp_augment_families(ops, n), 1u << RP_FAMILY_DIGITAL | 1u << RP_FAMILY_GEOMETRIC);
    const char *bad[] = {"elastic:0", "elastic:6", "elastic:2.5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(rp_augment_parse(ctx, bad[i], 0.5f, ops, &n), RP_ERR_ARG);
        assert_non_null(strstr(rp_ctx_error(ctx), "elastic"));
    }
    rp_ctx_destroy(ctx);
}

/* Same seed, same images in the same order: identical batches; another seed differs. */
static void test_deterministic(void **state)
{
    (void)state;
    const int B = 8, H = 8, W = 8, C = 3;
    size_t n = (size_t)B * H * W * C;
    const char *spec = "flip,crop:2,jitter:0.4,gaussian:0.1,shot:60,saltpepper:0.05,erase,randconv,elastic";
    float *x0 = malloc(n * sizeof *x0), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b),
          *c = malloc(n * sizeof *c);
    tu_fill_uniform(x0, n, 0, 1, 10);
    memcpy(a, x0, n * sizeof *a), memcpy(b, x0, n * sizeof *b), memcpy(c, x0, n * sizeof *c);
    rp_augment *p = make(spec, 0.5f, 42, H, W, C), *q = make(spec, 0.5f, 42, H, W, C), *r = make(spec, 0.5f, 43, H, W, C);
    for (int step = 0; step < 3; step++) {
        rp_augment_apply(p, a, B);
        rp_augment_apply(q, b, B);
        rp_augment_apply(r, c, B);
    }
    assert_memory_equal(a, b, n * sizeof *a);
    assert_memory_not_equal(a, c, n * sizeof *a);
    rp_augment_destroy(p), rp_augment_destroy(q), rp_augment_destroy(r);
    free(x0), free(a), free(b), free(c);
}

/* The mixing ops: parsing (probability 1 unless @PROB, augmix's severity range, one mixing
 * op at most), augmix in a spec equals rp_augmix_image from the same stream, and the
 * corruption families each op touches (the map a recipe is judged by). */
static void test_mixing_ops(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_augment_op ops[RP_AUGMENT_MAX_OPS];
    int n;
    assert_int_equal(rp_augment_parse(ctx, "flip,augmix:5", 0.5f, ops, &n), RP_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ops[1].kind, RP_AUG_AUGMIX);
    assert_true(ops[1].strength == 5.0f && ops[1].prob == 1.0f && ops[0].prob == 0.5f);
    assert_int_equal(rp_augment_mix_index(ops, n), 1);
    assert_int_equal(rp_augment_parse(ctx, "prime@0.3", 0.5f, ops, &n), RP_OK);
    assert_true(ops[0].kind == RP_AUG_PRIME && ops[0].prob == 0.3f);
    assert_int_equal(rp_augment_parse(ctx, "augmix,prime", 0.5f, ops, &n), RP_ERR_ARG);
    assert_int_equal(rp_augment_parse(ctx, "augmix:11", 0.5f, ops, &n), RP_ERR_ARG);
    assert_int_equal(rp_augment_parse(ctx, "prime:2", 0.5f, ops, &n), RP_ERR_ARG);
    assert_int_equal(rp_augment_parse(ctx, "flip,gaussian", 0.5f, ops, &n), RP_OK);
    assert_int_equal(rp_augment_mix_index(ops, n), -1);
    assert_int_equal(rp_augment_families(ops, n), (1u << RP_FAMILY_GEOMETRIC) | (1u << RP_FAMILY_NOISE));
    assert_int_equal(rp_augment_parse(ctx, "brightness,contrast", 0.5f, ops, &n), RP_OK);
    assert_int_equal(rp_augment_families(ops, n), (1u << RP_FAMILY_WEATHER) | (1u << RP_FAMILY_DIGITAL));
    assert_int_equal(rp_augment_parse(ctx, "augmix", 0.5f, ops, &n), RP_OK);
    rp_augmix_config cfg;
    rp_augmix_config_default(&cfg);
    assert_int_equal(rp_augment_families(ops, n), rp_augmix_families(&cfg));
    assert_int_equal(rp_augment_families(ops, n) & (1u << RP_FAMILY_BLUR), 0u); /* AugMix leaves blur unseen */

    enum { H = 12, W = 10, C = 3 };
    float img[H * W * C], want[H * W * C];
    tu_fill_uniform(img, H * W * C, 0.0f, 1.0f, 5);
    float *scratch = malloc(rp_augment_scratch_floats(ops, n, H, W, C) * sizeof(float));
    float *s2 = malloc(rp_augmix_scratch_floats(H, W, C) * sizeof(float));
    rp_rng r1, r2;
    rp_rng_seed(&r1, 3, RP_STREAM_AUGMENT);
    rp_rng_seed(&r2, 3, RP_STREAM_AUGMENT);
    rp_augmix_image(&cfg, img, want, H, W, C, (rp_rng_uniform(&r2), &r2), s2); /* the op's probability draw first */
    rp_augment_image(ops, n, img, H, W, C, &r1, scratch);
    assert_memory_equal(img, want, sizeof img);
    free(scratch), free(s2);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),       cmocka_unit_test(test_flip),
        cmocka_unit_test(test_crop),        cmocka_unit_test(test_jitter),
        cmocka_unit_test(test_probability), cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_mixing_ops),  cmocka_unit_test(test_erase),
        cmocka_unit_test(test_randconv_filter), cmocka_unit_test(test_randconv),
        cmocka_unit_test(test_elastic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
