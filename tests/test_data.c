/* Data readers: IDX (raw and gzip), CIFAR-10 binary, data set specs, and every kind of
 * bad input (each error asserts the status AND that the message names the file). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data/cifar.h"
#include "data/dataset.h"

static char *tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tu_tmpdir(), name);
    return buf;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void write_bytes(const char *path, const unsigned char *b, size_t n, bool gz)
{
    if (!gz) {
        tu_write_file(path, b, n);
        return;
    }
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, b, (unsigned)n), (int)n);
    assert_int_equal(gzclose(f), Z_OK);
}

/* The value of pixel (i, h, w) in generated images. */
static unsigned char pixel_of(int i, int h, int w) { return (unsigned char)(i * 37 + h * 11 + w * 3 + 1); }

/* IDX images (N, H, W), keeping only the first `keep` data bytes when keep >= 0. */
static void write_idx_images(const char *path, uint32_t magic, int N, int H, int W, long keep, bool gz)
{
    size_t n = 16 + (size_t)N * H * W;
    unsigned char *b = malloc(n);
    put_be32(b, magic);
    put_be32(b + 4, (uint32_t)N);
    put_be32(b + 8, (uint32_t)H);
    put_be32(b + 12, (uint32_t)W);
    for (int i = 0; i < N; i++)
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++) b[16 + ((size_t)i * H + h) * W + w] = pixel_of(i, h, w);
    write_bytes(path, b, keep >= 0 ? 16 + (size_t)keep : n, gz);
    free(b);
}

static void write_idx_labels(const char *path, int N, const unsigned char *labels, bool gz)
{
    unsigned char *b = malloc(8 + (size_t)N);
    put_be32(b, 0x00000801u);
    put_be32(b + 4, (uint32_t)N);
    memcpy(b + 8, labels, (size_t)N);
    write_bytes(path, b, 8 + (size_t)N, gz);
    free(b);
}

/* rp_dataset_open must fail with `want`, naming `file` and containing `what`. */
static void expect_open_error(const char *spec, bool train, rp_status want, const char *file, const char *what)
{
    rp_ctx *ctx = rp_ctx_create(1);
    rp_dataset *ds = (rp_dataset *)0x1;
    rp_status s = rp_dataset_open(ctx, spec, train, &ds);
    const char *msg = rp_ctx_error(ctx);
    if (s != want) fail_msg("%s: status %s, expected %s (%s)", spec, rp_status_name(s), rp_status_name(want), msg);
    assert_null(ds);
    if (file && !strstr(msg, file)) fail_msg("message does not name %s: %s", file, msg);
    if (what && !strstr(msg, what)) fail_msg("message lacks '%s': %s", what, msg);
    rp_ctx_destroy(ctx);
}

static void check_idx_set(const char *spec, int N, int H, int W, const unsigned char *labels, int K)
{
    rp_ctx *ctx = rp_ctx_create(1);
    rp_dataset *ds = NULL;
    if (rp_dataset_open(ctx, spec, true, &ds) != RP_OK) fail_msg("%s: %s", spec, rp_ctx_error(ctx));
    assert_int_equal(rp_dataset_size(ds), N);
    int h, w, c;
    rp_dataset_shape(ds, &h, &w, &c);
    assert_int_equal(h, H);
    assert_int_equal(w, W);
    assert_int_equal(c, 1);
    assert_int_equal(rp_dataset_num_classes(ds), K);
    assert_null(rp_dataset_class_name(ds, 0));
    float mean, std;
    rp_dataset_norm(ds, &mean, &std);
    assert_true(mean == 0.5f && std == 0.5f);
    /* gather samples in a chosen order: values are pixel/255 exactly, labels follow */
    int idx[3] = {N - 1, 0, 1};
    float *x = malloc(3 * (size_t)H * W * sizeof *x);
    int32_t y[3];
    rp_dataset_gather(ds, idx, 3, x, y);
    for (int b = 0; b < 3; b++) {
        assert_int_equal(y[b], labels[idx[b]]);
        for (int r = 0; r < H; r++)
            for (int q = 0; q < W; q++)
                assert_true(x[((size_t)b * H + r) * W + q] == (float)pixel_of(idx[b], r, q) / 255.0f);
    }
    free(x);
    rp_dataset_truncate(ds, 2);
    assert_int_equal(rp_dataset_size(ds), 2);
    rp_dataset_destroy(ds);
    rp_ctx_destroy(ctx);
}

static void test_idx_raw_and_gz(void **state)
{
    (void)state;
    char im[512], lb[512], spec[1100];
    const unsigned char labels[5] = {2, 0, 4, 1, 2};
    for (int gz = 0; gz < 2; gz++) {
        tmp_path(im, sizeof im, gz ? "im.idx3.gz" : "im.idx3");
        tmp_path(lb, sizeof lb, gz ? "lb.idx1.gz" : "lb.idx1");
        write_idx_images(im, 0x00000803u, 5, 4, 3, -1, gz);
        write_idx_labels(lb, 5, labels, gz);
        snprintf(spec, sizeof spec, "idx:%s,%s", im, lb);
        check_idx_set(spec, 5, 4, 3, labels, 5); /* classes inferred: max label + 1 */
        snprintf(spec, sizeof spec, "idx:%s,%s,7", im, lb);
        check_idx_set(spec, 5, 4, 3, labels, 7);
    }
}

static void test_idx_errors(void **state)
{
    (void)state;
    char im[512], lb[512], bad[512], spec[1600];
    const unsigned char labels[5] = {2, 0, 4, 1, 2};
    tmp_path(im, sizeof im, "e-im.idx3");
    tmp_path(lb, sizeof lb, "e-lb.idx1.gz");
    write_idx_images(im, 0x00000803u, 5, 4, 3, -1, false);
    write_idx_labels(lb, 5, labels, true);

    /* missing file */
    tmp_path(bad, sizeof bad, "no-such-images.idx3");
    snprintf(spec, sizeof spec, "idx:%s,%s", bad, lb);
    expect_open_error(spec, true, RP_ERR_IO, bad, "cannot open");
    snprintf(spec, sizeof spec, "idx:%s,%s", im, bad);
    expect_open_error(spec, true, RP_ERR_IO, bad, "cannot open");

    /* truncated data, raw and gz; truncated header */
    for (int gz = 0; gz < 2; gz++) {
        tmp_path(bad, sizeof bad, gz ? "trunc.idx3.gz" : "trunc.idx3");
        write_idx_images(bad, 0x00000803u, 5, 4, 3, 5 * 12 - 1, gz);
        snprintf(spec, sizeof spec, "idx:%s,%s", bad, lb);
        expect_open_error(spec, true, RP_ERR_FORMAT, bad, "truncated");
    }
    tmp_path(bad, sizeof bad, "trunc-head.idx3");
    unsigned char head[10] = {0, 0, 8, 3, 0, 0, 0, 5, 0, 0};
    tu_write_file(bad, head, sizeof head);
    snprintf(spec, sizeof spec, "idx:%s,%s", bad, lb);
    expect_open_error(spec, true, RP_ERR_FORMAT, bad, "truncated");

    /* a gzip stream cut short */
    tmp_path(bad, sizeof bad, "cut.idx3.gz");
    write_idx_images(bad, 0x00000803u, 50, 8, 8, -1, true);
    FILE *f = fopen(bad, "rb");
    unsigned char gzbuf[8192];
    size_t gzn = fread(gzbuf, 1, sizeof gzbuf, f);
    fclose(f);
    assert_true(gzn > 40 && gzn < sizeof gzbuf);
    tu_write_file(bad, gzbuf, gzn - 20);
    snprintf(spec, sizeof spec, "idx:%s,%s", bad, lb);
    expect_open_error(spec, true, RP_ERR_FORMAT, bad, "truncated");

    /* a corrupt gzip stream (valid gzip header, damaged body) */
    tmp_path(bad, sizeof bad, "corrupt.idx3.gz");
    write_idx_images(bad, 0x00000803u, 50, 8, 8, -1, true);
    f = fopen(bad, "r+b");
    fseek(f, 30, SEEK_SET);
    unsigned char junk[16];
    memset(junk, 0xA5, sizeof junk);
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);
    snprintf(spec, sizeof spec, "idx:%s,%s", bad, lb);
    expect_open_error(spec, true, RP_ERR_FORMAT, bad, NULL);

    /* data beyond what the header declares */
    tmp_path(bad, sizeof bad, "long.idx3");
    write_idx_images(bad, 0x00000803u, 6, 4, 3, -1, false);
    unsigned char six[64];
    memset(six, 0, sizeof six);
    put_be32(six, 0x00000803u);
    put_be32(six + 4, 5); /* claims 5 images, holds 6 */
    f = fopen(bad, "r+b");
    fwrite(six, 1, 8, f);
    fclose(f);
    snprintf(spec, sizeof spec, "idx:%s,%s", bad, lb);
    expect_open_error(spec, true, RP_ERR_FORMAT, bad, "beyond");

    /* wrong magic: labels where images belong, images where labels belong */
    snprintf(spec, sizeof spec, "idx:%s,%s", lb, lb);
    expect_open_error(spec, true, RP_ERR_FORMAT, lb, "wrong magic 0x00000801");
    snprintf(spec, sizeof spec, "idx:%s,%s", im, im);
    expect_open_error(spec, true, RP_ERR_FORMAT, im, "wrong magic 0x00000803");
    tmp_path(bad, sizeof bad, "int-images.idx3");
    write_idx_images(bad, 0x00000C03u, 5, 4, 3, -1, false); /* int32 element type */
    snprintf(spec, sizeof spec, "idx:%s,%s", bad, lb);
    expect_open_error(spec, true, RP_ERR_FORMAT, bad, "wrong magic");

    /* a zero dimension */
    tmp_path(bad, sizeof bad, "zero.idx3");
    write_idx_images(bad, 0x00000803u, 5, 0, 3, -1, false);
    snprintf(spec, sizeof spec, "idx:%s,%s", bad, lb);
    expect_open_error(spec, true, RP_ERR_FORMAT, bad, "dimension 1");

    /* image and label counts differ */
    tmp_path(bad, sizeof bad, "four-labels.idx1");
    write_idx_labels(bad, 4, labels, false);
    snprintf(spec, sizeof spec, "idx:%s,%s", im, bad);
    expect_open_error(spec, true, RP_ERR_SHAPE, bad, "5 images");

    /* label >= num_classes */
    snprintf(spec, sizeof spec, "idx:%s,%s,4", im, lb);
    expect_open_error(spec, true, RP_ERR_FORMAT, lb, "label 4 of sample 2");

    /* malformed specs list the valid forms */
    expect_open_error("idx:", true, RP_ERR_ARG, NULL, "idx:IMAGES,LABELS");
    snprintf(spec, sizeof spec, "idx:%s", im);
    expect_open_error(spec, true, RP_ERR_ARG, NULL, "idx:IMAGES,LABELS");
    snprintf(spec, sizeof spec, "idx:%s,%s,x", im, lb);
    expect_open_error(spec, true, RP_ERR_ARG, NULL, "NUM_CLASSES");
    expect_open_error("imagenet", true, RP_ERR_ARG, "imagenet", "cifar10:DIR");
    expect_open_error("cifar10:", true, RP_ERR_ARG, NULL, "fashion-mnist");
}

/* Value of channel c at (h, w) of CIFAR record r in generated files. */
static unsigned char cifar_value(int r, int c, int h, int w) { return (unsigned char)(r * 13 + c * 101 + h * 7 + w); }

static void write_cifar(const char *path, int first, int n, int bad_label_at, long cut)
{
    size_t size = (size_t)n * RP_CIFAR_RECORD;
    unsigned char *b = malloc(size);
    for (int i = 0; i < n; i++) {
        unsigned char *rec = b + (size_t)i * RP_CIFAR_RECORD;
        int r = first + i;
        rec[0] = (unsigned char)(i == bad_label_at ? 10 : r % 10);
        for (int c = 0; c < 3; c++)
            for (int h = 0; h < 32; h++)
                for (int w = 0; w < 32; w++) rec[1 + c * 1024 + h * 32 + w] = cifar_value(r, c, h, w);
    }
    tu_write_file(path, b, cut >= 0 ? (size_t)cut : size);
    free(b);
}

static char *cifar_dir(char *buf, size_t size, const char *name)
{
    tmp_path(buf, size, name);
    mkdir(buf, 0755);
    return buf;
}

static void test_cifar(void **state)
{
    (void)state;
    char dir[512], p[700], spec[600];
    cifar_dir(dir, sizeof dir, "cifar");
    for (int k = 1; k <= 5; k++) {
        snprintf(p, sizeof p, "%s/data_batch_%d.bin", dir, k);
        write_cifar(p, 2 * (k - 1), 2, -1, -1); /* records 0..9 across five files */
    }
    snprintf(p, sizeof p, "%s/test_batch.bin", dir);
    write_cifar(p, 100, 3, -1, -1);
    snprintf(spec, sizeof spec, "cifar10:%s", dir);

    rp_ctx *ctx = rp_ctx_create(1);
    rp_dataset *ds = NULL;
    if (rp_dataset_open(ctx, spec, true, &ds) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    assert_int_equal(rp_dataset_size(ds), 10);
    int H, W, C;
    rp_dataset_shape(ds, &H, &W, &C);
    assert_true(H == 32 && W == 32 && C == 3);
    assert_int_equal(rp_dataset_num_classes(ds), 10);
    assert_string_equal(rp_dataset_class_name(ds, 0), "airplane"); /* no batches.meta.txt */
    float mean[3], std[3];
    rp_dataset_norm(ds, mean, std);
    assert_true(mean[0] == 0.4914f && mean[2] == 0.4465f && std[1] == 0.2435f);
    float *x = malloc(2 * 32 * 32 * 3 * sizeof *x);
    int32_t y[2];
    int idx[2] = {7, 0};
    rp_dataset_gather(ds, idx, 2, x, y);
    assert_int_equal(y[0], 7);
    assert_int_equal(y[1], 0);
    /* CHW planes in the file became HWC */
    for (int b = 0; b < 2; b++)
        for (int h = 0; h < 32; h++)
            for (int w = 0; w < 32; w++)
                for (int c = 0; c < 3; c++)
                    assert_true(x[(((size_t)b * 32 + h) * 32 + w) * 3 + c] ==
                                (float)cifar_value(idx[b], c, h, w) / 255.0f);
    free(x);
    rp_dataset_destroy(ds);

    /* test split, with class names from batches.meta.txt */
    snprintf(p, sizeof p, "%s/batches.meta.txt", dir);
    const char *names = "c0\nc1\nc2\nc3\nc4\nc5\nc6\nc7\nc8\nlast one\n\n";
    tu_write_file(p, names, strlen(names));
    assert_int_equal(rp_dataset_open(ctx, spec, false, &ds), RP_OK);
    assert_int_equal(rp_dataset_size(ds), 3);
    assert_string_equal(rp_dataset_class_name(ds, 9), "last one");
    assert_null(rp_dataset_class_name(ds, 10));
    rp_dataset_destroy(ds);
    tu_write_file(p, "a\nb\n", 4);
    expect_open_error(spec, false, RP_ERR_FORMAT, p, "2 class names");
    remove(p);
    rp_ctx_destroy(ctx);

    /* one record layout helper, directly */
    unsigned char rec[RP_CIFAR_RECORD], hwc[3072], label;
    for (int i = 0; i < RP_CIFAR_RECORD; i++) rec[i] = (unsigned char)(i * 7);
    rp_cifar_record_to_hwc(rec, hwc, &label);
    assert_int_equal(label, 0);
    assert_int_equal(hwc[0], rec[1]);          /* (0,0) red   */
    assert_int_equal(hwc[1], rec[1 + 1024]);   /* (0,0) green */
    assert_int_equal(hwc[2], rec[1 + 2048]);   /* (0,0) blue  */
    assert_int_equal(hwc[(33) * 3 + 2], rec[1 + 2048 + 33]); /* (1,1) blue */
}

static void test_cifar_errors(void **state)
{
    (void)state;
    char dir[512], p[700], spec[600];
    cifar_dir(dir, sizeof dir, "cifar-bad");
    snprintf(spec, sizeof spec, "cifar10:%s", dir);
    /* missing file */
    snprintf(p, sizeof p, "%s/test_batch.bin", dir);
    expect_open_error(spec, false, RP_ERR_IO, p, "cannot open");
    /* truncated: one byte short of two records */
    write_cifar(p, 0, 2, -1, 2 * RP_CIFAR_RECORD - 1);
    expect_open_error(spec, false, RP_ERR_FORMAT, p, "3073-byte");
    /* empty */
    write_cifar(p, 0, 2, -1, 0);
    expect_open_error(spec, false, RP_ERR_FORMAT, p, "3073-byte");
    /* label 10 */
    write_cifar(p, 0, 2, 1, -1);
    expect_open_error(spec, false, RP_ERR_FORMAT, p, "record 1 has label 10");
    /* training split with data_batch_3 missing */
    for (int k = 1; k <= 5; k++) {
        if (k == 3) continue;
        snprintf(p, sizeof p, "%s/data_batch_%d.bin", dir, k);
        write_cifar(p, 0, 1, -1, -1);
    }
    snprintf(p, sizeof p, "%s/data_batch_3.bin", dir);
    expect_open_error(spec, true, RP_ERR_IO, p, "cannot open");
}

static void test_fashion_mnist_installed(void **state)
{
    (void)state;
    unsetenv("RAMPART_DATA_DIR");
    rp_ctx *ctx = rp_ctx_create(1);
    rp_dataset *tr = NULL, *te = NULL;
    if (rp_dataset_open(ctx, "fashion-mnist", true, &tr) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    if (rp_dataset_open(ctx, "fashion-mnist", false, &te) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    assert_int_equal(rp_dataset_size(tr), 60000);
    assert_int_equal(rp_dataset_size(te), 10000);
    int H, W, C;
    rp_dataset_shape(tr, &H, &W, &C);
    assert_true(H == 28 && W == 28 && C == 1);
    assert_int_equal(rp_dataset_num_classes(tr), 10);
    assert_string_equal(rp_dataset_class_name(tr, 0), "T-shirt/top");
    assert_string_equal(rp_dataset_class_name(te, 9), "Ankle boot");
    float m, s;
    rp_dataset_norm(tr, &m, &s);
    assert_true(m == 0.2860f && s == 0.3530f);
    /* first labels of the published files: train 9 0 0 3, test 9 2 1 1 */
    int idx[4] = {0, 1, 2, 3};
    float *x = malloc(4 * 784 * sizeof *x);
    int32_t y[4];
    rp_dataset_gather(tr, idx, 4, x, y);
    assert_true(y[0] == 9 && y[1] == 0 && y[2] == 0 && y[3] == 3);
    double sum = 0;
    for (int k = 0; k < 784; k++) sum += x[k] * 255.0;
    assert_true(sum > 76246.5 && sum < 76247.5); /* pixel sum of the first training image */
    rp_dataset_gather(te, idx, 4, x, y);
    assert_true(y[0] == 9 && y[1] == 2 && y[2] == 1 && y[3] == 1);
    free(x);
    rp_dataset_destroy(tr);
    rp_dataset_destroy(te);
    rp_ctx_destroy(ctx);
}

static void test_fashion_mnist_data_dir(void **state)
{
    (void)state;
    char dir[512], p[700];
    cifar_dir(dir, sizeof dir, "fmnist-small");
    const unsigned char labels[5] = {9, 1, 2, 3, 4};
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", dir);
    write_idx_images(p, 0x00000803u, 5, 28, 28, -1, true);
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte", dir); /* uncompressed is found too */
    write_idx_labels(p, 5, labels, false);
    setenv("RAMPART_DATA_DIR", dir, 1);
    rp_ctx *ctx = rp_ctx_create(1);
    rp_dataset *ds = NULL;
    if (rp_dataset_open(ctx, "fashion-mnist", false, &ds) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    assert_int_equal(rp_dataset_size(ds), 5);
    assert_string_equal(rp_dataset_class_name(ds, 1), "Trouser");
    rp_dataset_destroy(ds);
    /* the training files are absent: a clear error naming the path and the package */
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", dir);
    expect_open_error("fashion-mnist", true, RP_ERR_IO, p, "dataset-fashion-mnist");
    /* labels >= 10 in a fashion-mnist directory */
    const unsigned char bad[5] = {9, 10, 2, 3, 4};
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte", dir);
    write_idx_labels(p, 5, bad, false);
    expect_open_error("fashion-mnist", false, RP_ERR_FORMAT, p, "label 10 of sample 1");
    unsetenv("RAMPART_DATA_DIR");
    rp_ctx_destroy(ctx);
}

static void test_mnist_not_packaged(void **state)
{
    (void)state;
    struct stat st;
    if (stat(RP_MNIST_DIR, &st) == 0) skip(); /* someone installed it: nothing to check */
    expect_open_error("mnist", true, RP_ERR_IO, RP_MNIST_DIR, "idx:IMAGES,LABELS");
}

static void test_from_memory_and_shuffle(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    uint8_t px[2 * 2 * 2 * 3];
    for (int i = 0; i < 24; i++) px[i] = (uint8_t)(i * 10);
    int32_t lab[2] = {1, 0};
    const char *names[2] = {"no", "yes"};
    rp_dataset *ds = NULL;
    assert_int_equal(rp_dataset_from_memory(ctx, px, lab, 2, 2, 2, 3, 2, names, &ds), RP_OK);
    assert_string_equal(rp_dataset_class_name(ds, 1), "yes");
    float x[12];
    int32_t y;
    int one = 1;
    rp_dataset_gather(ds, &one, 1, x, &y);
    assert_int_equal(y, 0);
    assert_true(x[0] == 120.0f / 255.0f && x[11] == 230.0f / 255.0f);
    rp_dataset_destroy(ds);
    int32_t badlab[2] = {1, 2};
    assert_int_equal(rp_dataset_from_memory(ctx, px, badlab, 2, 2, 2, 3, 2, NULL, &ds), RP_ERR_ARG);
    assert_null(ds);

    /* shuffle: a permutation, the same for the same seed, different for another */
    enum { N = 1000 };
    int a[N], b[N], c[N], seen[N] = {0};
    rp_rng r1, r2, r3;
    rp_rng_seed(&r1, 42, RP_STREAM_SHUFFLE);
    rp_rng_seed(&r2, 42, RP_STREAM_SHUFFLE);
    rp_rng_seed(&r3, 43, RP_STREAM_SHUFFLE);
    rp_shuffle_indices(a, N, &r1);
    rp_shuffle_indices(b, N, &r2);
    rp_shuffle_indices(c, N, &r3);
    int fixed = 0, same_as_c = 0;
    for (int i = 0; i < N; i++) {
        assert_true(a[i] >= 0 && a[i] < N);
        seen[a[i]]++;
        fixed += a[i] == i;
        same_as_c += a[i] == c[i];
    }
    for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
    assert_memory_equal(a, b, sizeof a);
    assert_true(fixed < 20);     /* a random permutation fixes ~1 point */
    assert_true(same_as_c < 20); /* and agrees with another seed's on ~1 */
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_raw_and_gz),
        cmocka_unit_test(test_idx_errors),
        cmocka_unit_test(test_cifar),
        cmocka_unit_test(test_cifar_errors),
        cmocka_unit_test(test_fashion_mnist_installed),
        cmocka_unit_test(test_fashion_mnist_data_dir),
        cmocka_unit_test(test_mnist_not_packaged),
        cmocka_unit_test(test_from_memory_and_shuffle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
