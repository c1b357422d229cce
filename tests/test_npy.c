/* NumPy .npy reading (v1 and v2 headers written here as numpy writes them: the dict padded
 * with spaces and a newline to a multiple of 64 bytes) and the corrupted-set specs built on
 * it and on the image readers: cifar10-c:DIR,NAME[,SEVERITY] picks the severity's rows of
 * both files; tiny-imagenet-c:DIR,NAME,SEVERITY labels the images by sorted wnid. Every bad
 * file gives RP_ERR_FORMAT (or _SHAPE) with the file named. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/dataset.h"
#include "data/npy.h"
#include "io/png.h"

static char *tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tu_tmpdir(), name);
    return buf;
}

/* A .npy file: magic, version, header dict padded to 64 bytes, then data (nbytes). Returns
 * the total size. */
static size_t write_npy(const char *path, int version, const char *descr, bool fortran, const char *shape,
                        const void *data, size_t nbytes)
{
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr,
                     fortran ? "True" : "False", shape);
    size_t pre = version == 1 ? 10 : 12, total_head = pre + (size_t)n + 1;
    size_t pad = (64 - total_head % 64) % 64, hlen = (size_t)n + pad + 1;
    size_t size = pre + hlen + nbytes;
    unsigned char *b = malloc(size);
    assert_non_null(b);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)version;
    b[7] = 0;
    for (size_t k = 0; k < pre - 8; k++) b[8 + k] = (unsigned char)(hlen >> (8 * k));
    memcpy(b + pre, dict, (size_t)n);
    memset(b + pre + n, ' ', pad);
    b[pre + hlen - 1] = '\n';
    assert_int_equal((pre + hlen) % 64, 0);
    if (nbytes) memcpy(b + pre + hlen, data, nbytes);
    tu_write_file(path, b, size);
    free(b);
    return size;
}

static void expect_error(rp_ctx *ctx, rp_status got, rp_status want, const char *path, const char *needle)
{
    assert_int_equal(got, want);
    if (!strstr(rp_ctx_error(ctx), path) || (needle && !strstr(rp_ctx_error(ctx), needle)))
        fail_msg("message '%s' lacks '%s' or '%s'", rp_ctx_error(ctx), path, needle ? needle : "");
}

static void test_images_and_labels(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    char p[512];
    enum { N = 4, H = 2, W = 3, C = 3 };
    uint8_t pix[N * H * W * C];
    for (int i = 0; i < N * H * W * C; i++) pix[i] = (uint8_t)(i * 7 + 1);
    for (int v = 1; v <= 2; v++) {
        tmp_path(p, sizeof p, v == 1 ? "img1.npy" : "img2.npy");
        write_npy(p, v, "|u1", false, "(4, 2, 3, 3)", pix, sizeof pix);
        uint8_t *got = NULL;
        int n, h, w, c;
        assert_int_equal(rp_npy_read_images(ctx, p, 0, -1, &got, &n, &h, &w, &c), RP_OK);
        assert_int_equal(n, N), assert_int_equal(h, H), assert_int_equal(w, W), assert_int_equal(c, C);
        assert_memory_equal(got, pix, sizeof pix);
        free(got);
        /* rows 1..2 only */
        assert_int_equal(rp_npy_read_images(ctx, p, 1, 2, &got, &n, &h, &w, &c), RP_OK);
        assert_int_equal(n, 2);
        assert_memory_equal(got, pix + H * W * C, 2 * H * W * C);
        free(got);
        assert_int_equal(rp_npy_read_images(ctx, p, 3, 2, &got, &n, &h, &w, &c), RP_ERR_SHAPE);
    }
    /* labels of several integer types */
    const int64_t l64[5] = {0, 9, 3, 2000000000, 7};
    tmp_path(p, sizeof p, "l64.npy");
    write_npy(p, 1, "<i8", false, "(5,)", l64, sizeof l64);
    int32_t *lab = NULL;
    int n;
    assert_int_equal(rp_npy_read_labels(ctx, p, 0, -1, &lab, &n), RP_OK);
    assert_int_equal(n, 5);
    for (int i = 0; i < 5; i++) assert_int_equal(lab[i], (int32_t)l64[i]);
    free(lab);
    const int16_t l16[3] = {-2, 5, 300};
    tmp_path(p, sizeof p, "l16.npy");
    write_npy(p, 1, "<i2", false, "(3,)", l16, sizeof l16);
    assert_int_equal(rp_npy_read_labels(ctx, p, 1, 2, &lab, &n), RP_OK);
    assert_int_equal(n, 2), assert_int_equal(lab[0], 5), assert_int_equal(lab[1], 300);
    free(lab);
    const uint8_t l8[3] = {1, 2, 255};
    tmp_path(p, sizeof p, "l8.npy");
    write_npy(p, 1, "|u1", false, "(3,)", l8, sizeof l8);
    assert_int_equal(rp_npy_read_labels(ctx, p, 0, -1, &lab, &n), RP_OK);
    assert_int_equal(lab[2], 255);
    free(lab);
    const int64_t huge = 1LL << 40;
    tmp_path(p, sizeof p, "lhuge.npy");
    write_npy(p, 1, "<i8", false, "(1,)", &huge, sizeof huge);
    expect_error(ctx, rp_npy_read_labels(ctx, p, 0, -1, &lab, &n), RP_ERR_FORMAT, p, "int32");
    rp_ctx_destroy(ctx);
}

static void test_bad_files(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    char p[512];
    uint8_t pix[2 * 2 * 2 * 3] = {0}, *got = NULL;
    int n, h, w, c;
    int32_t *lab = NULL;
    /* truncated data */
    tmp_path(p, sizeof p, "trunc.npy");
    size_t size = write_npy(p, 1, "|u1", false, "(2, 2, 2, 3)", pix, sizeof pix);
    FILE *f = fopen(p, "rb");
    unsigned char *whole = malloc(size);
    assert_int_equal(fread(whole, 1, size, f), size);
    fclose(f);
    tu_write_file(p, whole, size - 5);
    expect_error(ctx, rp_npy_read_images(ctx, p, 0, -1, &got, &n, &h, &w, &c), RP_ERR_FORMAT, p, "truncated");
    /* truncated inside the header */
    tu_write_file(p, whole, 30);
    expect_error(ctx, rp_npy_read_images(ctx, p, 0, -1, &got, &n, &h, &w, &c), RP_ERR_FORMAT, p, "truncated");
    /* trailing bytes */
    unsigned char *longer = calloc(size + 3, 1);
    memcpy(longer, whole, size);
    tu_write_file(p, longer, size + 3);
    expect_error(ctx, rp_npy_read_images(ctx, p, 0, -1, &got, &n, &h, &w, &c), RP_ERR_FORMAT, p, NULL);
    /* bad magic */
    whole[1] = 'X';
    tmp_path(p, sizeof p, "magic.npy");
    tu_write_file(p, whole, size);
    expect_error(ctx, rp_npy_read_images(ctx, p, 0, -1, &got, &n, &h, &w, &c), RP_ERR_FORMAT, p, "magic");
    free(whole), free(longer);
    /* wrong dtype: float images */
    float fl[2 * 2 * 2 * 3] = {0};
    tmp_path(p, sizeof p, "float.npy");
    write_npy(p, 1, "<f4", false, "(2, 2, 2, 3)", fl, sizeof fl);
    expect_error(ctx, rp_npy_read_images(ctx, p, 0, -1, &got, &n, &h, &w, &c), RP_ERR_FORMAT, p, "<f4");
    expect_error(ctx, rp_npy_read_labels(ctx, p, 0, -1, &lab, &n), RP_ERR_FORMAT, p, "<f4");
    /* Fortran order */
    tmp_path(p, sizeof p, "fortran.npy");
    write_npy(p, 1, "|u1", true, "(2, 2, 2, 3)", pix, sizeof pix);
    expect_error(ctx, rp_npy_read_images(ctx, p, 0, -1, &got, &n, &h, &w, &c), RP_ERR_FORMAT, p, "fortran");
    /* big-endian labels */
    int64_t be[2] = {0};
    tmp_path(p, sizeof p, "be.npy");
    write_npy(p, 1, ">i8", false, "(2,)", be, sizeof be);
    expect_error(ctx, rp_npy_read_labels(ctx, p, 0, -1, &lab, &n), RP_ERR_FORMAT, p, "big-endian");
    /* images of the wrong shape */
    tmp_path(p, sizeof p, "shape.npy");
    write_npy(p, 1, "|u1", false, "(2, 12)", pix, sizeof pix);
    expect_error(ctx, rp_npy_read_images(ctx, p, 0, -1, &got, &n, &h, &w, &c), RP_ERR_FORMAT, p, "(2, 12)");
    /* missing file */
    tmp_path(p, sizeof p, "absent.npy");
    expect_error(ctx, rp_npy_read_images(ctx, p, 0, -1, &got, &n, &h, &w, &c), RP_ERR_IO, p, NULL);
    assert_null(got);
    assert_null(lab);
    rp_ctx_destroy(ctx);
}

/* A CIFAR-10-C-layout directory: 5 severities of R images each; pixel values tell the row. */
enum { R = 3, S = 4 };

static void make_cifar_c(const char *dir, int n_labels)
{
    char p[600];
    uint8_t pix[5 * R * S * S * 3];
    for (int i = 0; i < 5 * R; i++)
        for (int k = 0; k < S * S * 3; k++) pix[i * S * S * 3 + k] = (uint8_t)(i * 10 + k % 7);
    snprintf(p, sizeof p, "%s/fog.npy", dir);
    write_npy(p, 1, "|u1", false, "(15, 4, 4, 3)", pix, sizeof pix);
    uint8_t lab[5 * R];
    for (int i = 0; i < 5 * R; i++) lab[i] = (uint8_t)(i % R + 2); /* the same R labels per severity */
    char shape[16];
    snprintf(shape, sizeof shape, "(%d,)", n_labels);
    snprintf(p, sizeof p, "%s/labels.npy", dir);
    write_npy(p, 1, "|u1", false, shape, lab, (size_t)n_labels);
}

static void test_cifar10_c(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    char dir[512], spec[700];
    tmp_path(dir, sizeof dir, "cifar-c");
    mkdir(dir, 0777);
    make_cifar_c(dir, 5 * R);
    for (int sev = 2; sev <= 4; sev += 2) { /* two severities: rows (s-1)R .. sR-1 */
        snprintf(spec, sizeof spec, "cifar10-c:%s,fog,%d", dir, sev);
        rp_dataset *ds = NULL;
        assert_int_equal(rp_dataset_open(ctx, spec, false, &ds), RP_OK);
        int H, W, C;
        rp_dataset_shape(ds, &H, &W, &C);
        assert_int_equal(rp_dataset_size(ds), R);
        assert_int_equal(H, S), assert_int_equal(W, S), assert_int_equal(C, 3);
        assert_int_equal(rp_dataset_num_classes(ds), 10);
        assert_string_equal(rp_dataset_class_name(ds, 0), "airplane");
        for (int i = 0; i < R; i++) {
            assert_int_equal(ds->pixels[(size_t)i * S * S * 3], (sev - 1) * R * 10 + i * 10);
            assert_int_equal(ds->labels[i], i + 2);
        }
        rp_dataset_destroy(ds);
    }
    /* no severity: all five */
    snprintf(spec, sizeof spec, "cifar10-c:%s,fog", dir);
    rp_dataset *ds = NULL;
    assert_int_equal(rp_dataset_open(ctx, spec, false, &ds), RP_OK);
    assert_int_equal(rp_dataset_size(ds), 5 * R);
    assert_int_equal(ds->pixels[(size_t)(5 * R - 1) * S * S * 3], (5 * R - 1) * 10);
    rp_dataset_destroy(ds);
    /* errors: a missing corruption file, a bad severity, no training split, labels of another length */
    snprintf(spec, sizeof spec, "cifar10-c:%s,snow,1", dir);
    char p[600];
    snprintf(p, sizeof p, "%s/snow.npy", dir);
    expect_error(ctx, rp_dataset_open(ctx, spec, false, &ds), RP_ERR_IO, p, NULL);
    snprintf(spec, sizeof spec, "cifar10-c:%s,fog,6", dir);
    expect_error(ctx, rp_dataset_open(ctx, spec, false, &ds), RP_ERR_ARG, spec, "SEVERITY");
    snprintf(spec, sizeof spec, "cifar10-c:%s,fog,1", dir);
    expect_error(ctx, rp_dataset_open(ctx, spec, true, &ds), RP_ERR_ARG, spec, "training");
    make_cifar_c(dir, 5 * R - 1);
    snprintf(p, sizeof p, "%s/labels.npy", dir);
    expect_error(ctx, rp_dataset_open(ctx, spec, false, &ds), RP_ERR_SHAPE, p, NULL);
    assert_null(ds);
    rp_ctx_destroy(ctx);
}

/* DIR/fog/3/<wnid>/<file>.png: classes are the sorted wnid folders. */
static void test_tiny_imagenet_c(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    char dir[512], p[900], spec[700];
    tmp_path(dir, sizeof dir, "tiny-c");
    const char *wnids[3] = {"n09999999", "n01443537", "n02085620"}; /* sorted: 1, 2, 0 */
    snprintf(p, sizeof p, "%s", dir), mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/fog", dir), mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/fog/3", dir), mkdir(p, 0777);
    uint8_t img[64 * 64 * 3];
    for (int k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "%s/fog/3/%s", dir, wnids[k]);
        mkdir(p, 0777);
        memset(img, 40 * (k + 1), sizeof img); /* the class's gray level */
        snprintf(p, sizeof p, "%s/fog/3/%s/a_%d.png", dir, wnids[k], k);
        assert_int_equal(rp_png_write(ctx, p, img, 64, 64, 3), RP_OK);
    }
    snprintf(spec, sizeof spec, "tiny-imagenet-c:%s,fog,3", dir);
    rp_dataset *ds = NULL;
    assert_int_equal(rp_dataset_open(ctx, spec, false, &ds), RP_OK);
    assert_int_equal(rp_dataset_size(ds), 3);
    assert_int_equal(rp_dataset_num_classes(ds), 3);
    assert_string_equal(rp_dataset_class_name(ds, 0), "n01443537");
    assert_string_equal(rp_dataset_class_name(ds, 2), "n09999999");
    int H, W, C;
    rp_dataset_shape(ds, &H, &W, &C);
    assert_int_equal(H, 64), assert_int_equal(C, 3);
    for (int i = 0; i < 3; i++) { /* the label names the folder the image came from */
        int k = ds->labels[i], orig = !strcmp(rp_dataset_class_name(ds, k), wnids[0]) ? 0
                                      : !strcmp(rp_dataset_class_name(ds, k), wnids[1]) ? 1 : 2;
        assert_int_equal(ds->pixels[(size_t)i * 64 * 64 * 3], 40 * (orig + 1));
    }
    rp_dataset_destroy(ds);
    snprintf(spec, sizeof spec, "tiny-imagenet-c:%s,fog", dir);
    expect_error(ctx, rp_dataset_open(ctx, spec, false, &ds), RP_ERR_ARG, spec, "SEVERITY");
    snprintf(spec, sizeof spec, "tiny-imagenet-c:%s,fog,2", dir);
    snprintf(p, sizeof p, "%s/fog/2", dir);
    assert_int_not_equal(rp_dataset_open(ctx, spec, false, &ds), RP_OK);
    assert_non_null(strstr(rp_ctx_error(ctx), p));
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_images_and_labels), cmocka_unit_test(test_bad_files),
                                       cmocka_unit_test(test_cifar10_c), cmocka_unit_test(test_tiny_imagenet_c)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
