/* Image files and image-file data sets: JPEG/PNG decoding (generated here with libjpeg
 * and libpng), fitting (closed forms of the triangle filter), "folder:" and
 * "tiny-imagenet:" layouts with their labels, and every bad input (each error asserts the
 * status AND that the message names the file or folder). */
#include "testutil.h"

#include <stdio.h>
/* jpeglib.h needs FILE and size_t first */
#include <jpeglib.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/dataset.h"
#include "data/image.h"

/* ---- writing test images -------------------------------------------------------------- */

static void write_jpeg(const char *path, const uint8_t *px, int H, int W, int C, int quality)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)W;
    c.image_height = (JDIMENSION)H;
    c.input_components = C;
    c.in_color_space = C == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    for (int i = 0; i < c.num_components; i++) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * W * C);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
}

/* C: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
static void write_png(const char *path, const uint8_t *px, int H, int W, int C)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)W;
    img.height = (png_uint_32)H;
    img.format = C == 1 ? PNG_FORMAT_GRAY : C == 2 ? PNG_FORMAT_GA : C == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
    assert_true(png_image_write_to_file(&img, path, 0, px, 0, NULL));
}

/* A constant image (H, W, C) of value v[c]. OWNED. */
static uint8_t *constant(int H, int W, int C, const uint8_t *v)
{
    uint8_t *p = malloc((size_t)H * W * C);
    for (size_t i = 0; i < (size_t)H * W; i++) memcpy(p + i * C, v, (size_t)C);
    return p;
}

static void write_constant_jpeg(const char *path, int H, int W, int C, const uint8_t *v)
{
    uint8_t *p = constant(H, W, C, v);
    write_jpeg(path, p, H, W, C, 95);
    free(p);
}

static const char *tmp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *tmp(const char *fmt, ...)
{
    static char bufs[8][4096];
    static int at;
    char *b = bufs[at++ % 8];
    int n = snprintf(b, 4096, "%s/", tu_tmpdir());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b + n, 4096 - (size_t)n, fmt, ap);
    va_end(ap);
    return b;
}

static void mkdirs(const char *path)
{
    char b[4096];
    snprintf(b, sizeof b, "%s", path);
    for (char *p = b + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(b, 0755);
            *p = '/';
        }
    mkdir(b, 0755);
}

static void assert_mentions(const rp_ctx *ctx, const char *what)
{
    const char *msg = rp_ctx_error(ctx);
    if (!strstr(msg, what)) fail_msg("message '%s' does not mention '%s'", msg, what);
}

/* ---- decoding ------------------------------------------------------------------------ */

/* A smooth RGB gradient (H, W, 3). */
static uint8_t *gradient(int H, int W)
{
    uint8_t *p = malloc((size_t)H * W * 3);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *q = p + ((size_t)y * W + x) * 3;
            q[0] = (uint8_t)(40 + 8 * x), q[1] = (uint8_t)(60 + 6 * y), q[2] = (uint8_t)(120 + 2 * (x + y));
        }
    return p;
}

static void test_jpeg_decode(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    const int H = 12, W = 16;
    uint8_t *g = gradient(H, W);
    write_jpeg(tmp("grad.jpg"), g, H, W, 3, 100);
    rp_image im;
    assert_int_equal(rp_image_read(ctx, tmp("grad.jpg"), &im), RP_OK);
    assert_int_equal(im.H, H);
    assert_int_equal(im.W, W);
    assert_int_equal(im.C, 3);
    int worst = 0; /* JPEG is lossy: quality 100, 4:4:4, smooth image: within 4 levels */
    for (size_t i = 0; i < (size_t)H * W * 3; i++) {
        int d = abs((int)im.pixels[i] - (int)g[i]);
        worst = d > worst ? d : worst;
    }
    assert_true(worst <= 4);
    rp_image_free(&im);
    int h, w, c;
    assert_int_equal(rp_image_probe(ctx, tmp("grad.jpg"), &h, &w, &c), RP_OK);
    assert_true(h == H && w == W && c == 3);
    /* grayscale stays one channel; fitting to 3 channels copies it */
    const uint8_t v = 93;
    write_constant_jpeg(tmp("gray.jpg"), 8, 8, 1, &v);
    assert_int_equal(rp_image_read(ctx, tmp("gray.jpg"), &im), RP_OK);
    assert_int_equal(im.C, 1);
    uint8_t rgb[8 * 8 * 3];
    assert_int_equal(rp_image_fit(ctx, &im, rgb, 8, 8, 3), RP_OK);
    for (int i = 0; i < 8 * 8; i++) {
        assert_true(abs(rgb[3 * i] - 93) <= 1);
        assert_true(rgb[3 * i] == rgb[3 * i + 1] && rgb[3 * i] == rgb[3 * i + 2]);
    }
    rp_image_free(&im);
    free(g);
    rp_ctx_destroy(ctx);
}

static void test_png_decode(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    const int H = 5, W = 7;
    uint8_t px[5 * 7 * 4];
    for (int i = 0; i < H * W * 4; i++) px[i] = (uint8_t)(i * 37 + 11);
    const int formats[4] = {1, 2, 3, 4}, decoded_c[4] = {1, 1, 3, 3};
    for (int f = 0; f < 4; f++) { /* exact, alpha dropped without compositing */
        int C = formats[f];
        write_png(tmp("p%d.png", C), px, H, W, C);
        rp_image im;
        assert_int_equal(rp_image_read(ctx, tmp("p%d.png", C), &im), RP_OK);
        assert_true(im.H == H && im.W == W && im.C == decoded_c[f]);
        for (int i = 0; i < H * W; i++)
            for (int c = 0; c < im.C; c++) assert_int_equal(im.pixels[i * im.C + c], px[i * C + c]);
        rp_image_free(&im);
    }
    /* the format comes from the bytes, not the name: a PNG called .jpg decodes */
    write_png(tmp("named.jpg"), px, H, W, 3);
    rp_image im;
    assert_int_equal(rp_image_read(ctx, tmp("named.jpg"), &im), RP_OK);
    assert_memory_equal(im.pixels, px, (size_t)H * W * 3);
    rp_image_free(&im);
    rp_ctx_destroy(ctx);
}

/* The first n bytes of src written to dst. */
static void truncate_copy(const char *src, const char *dst, long keep)
{
    FILE *f = fopen(src, "rb");
    assert_non_null(f);
    uint8_t buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(keep > 0 && (size_t)keep < n);
    tu_write_file(dst, buf, (size_t)keep);
}

static void test_decode_errors(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_image im;
    uint8_t *g = gradient(32, 32);
    write_jpeg(tmp("full.jpg"), g, 32, 32, 3, 90);
    truncate_copy(tmp("full.jpg"), tmp("cut.jpg"), 400); /* past the headers, inside the scan */
    assert_int_equal(rp_image_read(ctx, tmp("cut.jpg"), &im), RP_ERR_FORMAT);
    assert_mentions(ctx, tmp("cut.jpg"));
    assert_mentions(ctx, "truncated");
    assert_null(im.pixels);
    truncate_copy(tmp("full.jpg"), tmp("cut_header.jpg"), 40);
    assert_int_equal(rp_image_read(ctx, tmp("cut_header.jpg"), &im), RP_ERR_FORMAT);
    assert_mentions(ctx, tmp("cut_header.jpg"));
    write_png(tmp("full.png"), g, 32, 32, 3);
    truncate_copy(tmp("full.png"), tmp("cut.png"), 100);
    assert_int_equal(rp_image_read(ctx, tmp("cut.png"), &im), RP_ERR_FORMAT);
    assert_mentions(ctx, tmp("cut.png"));
    tu_write_file(tmp("text.jpg"), "hello, not an image\n", 20);
    assert_int_equal(rp_image_read(ctx, tmp("text.jpg"), &im), RP_ERR_FORMAT);
    assert_mentions(ctx, tmp("text.jpg"));
    assert_mentions(ctx, "not a JPEG or PNG");
    tu_write_file(tmp("empty.png"), "", 0);
    assert_int_equal(rp_image_read(ctx, tmp("empty.png"), &im), RP_ERR_FORMAT);
    assert_mentions(ctx, "empty file");
    assert_int_equal(rp_image_read(ctx, tmp("missing.png"), &im), RP_ERR_IO);
    assert_mentions(ctx, tmp("missing.png"));
    free(g);
    rp_ctx_destroy(ctx);
}

/* A header claiming more than RP_IMAGE_MAX_PIXELS pixels is refused before any decoding (as
 * the fuzzer's 229-byte JPEG claiming 2053 x 24582 is): an 8 x 8 JPEG with its frame header's
 * size rewritten; one row fewer is within the cap and probes fine. */
static void test_decode_pixel_cap(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    const uint8_t v = 120;
    write_constant_jpeg(tmp("small.jpg"), 8, 8, 1, &v);
    FILE *f = fopen(tmp("small.jpg"), "rb");
    assert_non_null(f);
    uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    size_t sof = 0;
    for (size_t i = 0; i + 9 < n && !sof; i++)
        if (buf[i] == 0xFF && buf[i + 1] == 0xC0) sof = i;
    assert_true(sof > 0);
    const long W = 4096, H_over = RP_IMAGE_MAX_PIXELS / W + 1;
    for (long H = H_over - 1; H <= H_over; H++) {
        buf[sof + 5] = (uint8_t)(H >> 8), buf[sof + 6] = (uint8_t)H; /* FF C0, length, precision, height, width */
        buf[sof + 7] = (uint8_t)(W >> 8), buf[sof + 8] = (uint8_t)W;
        tu_write_file(tmp("huge.jpg"), buf, n);
        int h, w, c;
        rp_image im;
        if (H < H_over) {
            assert_int_equal(rp_image_probe(ctx, tmp("huge.jpg"), &h, &w, &c), RP_OK);
            assert_true(h == H && w == W && c == 1);
        } else {
            assert_int_equal(rp_image_probe(ctx, tmp("huge.jpg"), &h, &w, &c), RP_ERR_FORMAT);
            assert_mentions(ctx, "more than");
            assert_int_equal(rp_image_read(ctx, tmp("huge.jpg"), &im), RP_ERR_FORMAT);
            assert_mentions(ctx, tmp("huge.jpg"));
            assert_mentions(ctx, "pixels");
            assert_null(im.pixels);
        }
    }
    rp_ctx_destroy(ctx);
}

/* ---- fitting ------------------------------------------------------------------------ */

static void test_fit_closed_forms(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    /* crop only: 4x8 -> 4x4 keeps columns 2..5 exactly */
    uint8_t wide[4 * 8], out[8 * 8 * 3];
    for (int i = 0; i < 32; i++) wide[i] = (uint8_t)(i * 7);
    rp_image im = {.H = 4, .W = 8, .C = 1, .pixels = wide};
    assert_int_equal(rp_image_fit(ctx, &im, out, 4, 4, 1), RP_OK);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) assert_int_equal(out[y * 4 + x], wide[y * 8 + x + 2]);
    /* halving a ramp v = 10 x + 5 (8x8, equal rows): the triangle filter of radius 2
     * gives the ramp at the new centres inside (30, 50) and renormalised sums at the
     * borders (21.25 / 1.75 = 12.14 -> 12 and 118.75 / 1.75 = 67.86 -> 68) */
    uint8_t ramp[8 * 8];
    for (int i = 0; i < 64; i++) ramp[i] = (uint8_t)(10 * (i % 8) + 5);
    im = (rp_image){.H = 8, .W = 8, .C = 1, .pixels = ramp};
    assert_int_equal(rp_image_fit(ctx, &im, out, 4, 4, 1), RP_OK);
    const uint8_t halved[4] = {12, 30, 50, 68};
    for (int y = 0; y < 4; y++) assert_memory_equal(out + y * 4, halved, 4);
    /* doubling a ramp v = 20 x + 10 (4 wide): linear interpolation inside, 10 i + 5 */
    uint8_t small[2 * 4];
    for (int i = 0; i < 8; i++) small[i] = (uint8_t)(20 * (i % 4) + 10);
    im = (rp_image){.H = 2, .W = 4, .C = 1, .pixels = small};
    assert_int_equal(rp_image_fit(ctx, &im, out, 4, 8, 1), RP_OK);
    for (int y = 0; y < 4; y++)
        for (int x = 1; x < 7; x++) assert_int_equal(out[y * 8 + x], 10 * x + 5);
    /* RGB -> gray by PIL's luma weights */
    uint8_t px[3] = {200, 100, 50};
    im = (rp_image){.H = 1, .W = 1, .C = 3, .pixels = px};
    assert_int_equal(rp_image_fit(ctx, &im, out, 1, 1, 1), RP_OK);
    assert_int_equal(out[0], (200 * 19595 + 100 * 38470 + 50 * 7471 + 32768) >> 16);
    rp_ctx_destroy(ctx);
}

/* A constant image stays constant at every size, aspect and channel count (the
 * weights of every output pixel sum to 1). */
static void test_fit_constant(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    const int sizes[][2] = {{37, 53}, {64, 64}, {5, 3}, {100, 7}, {1, 1}};
    const int targets[][2] = {{8, 8}, {64, 64}, {32, 16}, {13, 29}, {3, 3}};
    const uint8_t v[3] = {17, 128, 250};
    uint8_t *dst = malloc(64 * 64 * 3);
    for (int s = 0; s < 5; s++)
        for (int t = 0; t < 5; t++) {
            uint8_t *p = constant(sizes[s][0], sizes[s][1], 3, v);
            rp_image im = {.H = sizes[s][0], .W = sizes[s][1], .C = 3, .pixels = p};
            assert_int_equal(rp_image_fit(ctx, &im, dst, targets[t][0], targets[t][1], 3), RP_OK);
            for (int i = 0; i < targets[t][0] * targets[t][1]; i++) assert_memory_equal(dst + 3 * i, v, 3);
            free(p);
        }
    free(dst);
    rp_ctx_destroy(ctx);
}

/* ---- folder: -------------------------------------------------------------------------- */

/* Class k's colour. */
static void class_colour(int k, uint8_t *v)
{
    v[0] = (uint8_t)(30 + 50 * k);
    v[1] = (uint8_t)(200 - 40 * k);
    v[2] = (uint8_t)(90 + 20 * k);
}

static void assert_colour(const rp_dataset *ds, int i, const uint8_t *v, int tol)
{
    size_t S = (size_t)ds->H * ds->W * ds->C;
    for (size_t k = 0; k < S; k++)
        if (abs((int)ds->pixels[i * S + k] - (int)v[k % 3]) > tol)
            fail_msg("sample %d value %d at %zu, expected %d +- %d", i, ds->pixels[i * S + k], k, v[k % 3], tol);
}

/* DIR/<class>/: "cat", "ant", "bee" (sorted: ant, bee, cat), JPEG and PNG of varied sizes,
 * a grayscale JPEG, and files that are not images. */
static void make_folder(const char *dir)
{
    const char *names[3] = {"cat", "ant", "bee"}; /* sorted order: 1, 2, 0 */
    const int sorted[3] = {2, 0, 1};
    const int sizes[4][2] = {{24, 24}, {20, 31}, {40, 16}, {9, 12}};
    for (int c = 0; c < 3; c++) {
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", dir, names[c]);
        mkdirs(sub);
        uint8_t v[3];
        class_colour(sorted[c], v);
        for (int i = 0; i < 4; i++) {
            char path[4200];
            uint8_t *p = constant(sizes[i][0], sizes[i][1], 3, v);
            snprintf(path, sizeof path, "%s/img%d.%s", sub, i, i % 2 ? "png" : "jpg");
            if (i % 2) write_png(path, p, sizes[i][0], sizes[i][1], 3);
            else write_jpeg(path, p, sizes[i][0], sizes[i][1], 3, 95);
            free(p);
        }
        char path[4200];
        snprintf(path, sizeof path, "%s/notes.txt", sub);
        tu_write_file(path, "not an image", 12);
    }
}

/* Class turns keep each class's own order, also with classes of unequal sizes. */
static void test_interleave(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_image_list l = {0};
    const int32_t in[7] = {0, 0, 0, 1, 2, 2, 2}, want[7] = {0, 1, 2, 0, 2, 0, 2};
    const char *names[7] = {"a0", "a1", "a2", "b0", "c0", "c1", "c2"};
    const char *want_names[7] = {"a0", "b0", "c0", "a1", "c1", "a2", "c2"};
    for (int i = 0; i < 7; i++) assert_int_equal(rp_image_list_add(ctx, &l, names[i], in[i]), RP_OK);
    assert_int_equal(rp_image_list_interleave(ctx, &l, 3), RP_OK);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(l.labels[i], want[i]);
        assert_string_equal(l.paths[i], want_names[i]);
    }
    rp_image_list_free(&l);
    rp_ctx_destroy(ctx);
}

static void test_folder(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    const char *dir = tmp("folder");
    make_folder(dir);
    char spec[4200];
    snprintf(spec, sizeof spec, "folder:%s,16", dir);
    rp_dataset *ds = NULL, *ds3 = NULL;
    rp_data_options o1 = {.workers = 1}, o3 = {.workers = 3};
    assert_int_equal(rp_dataset_open_ex(ctx, spec, true, &o1, &ds), RP_OK);
    assert_int_equal(rp_dataset_open_ex(ctx, spec, true, &o3, &ds3), RP_OK);
    assert_int_equal(rp_dataset_size(ds), 12);
    assert_true(ds->H == 16 && ds->W == 16 && ds->C == 3 && ds->num_classes == 3);
    assert_string_equal(rp_dataset_class_name(ds, 0), "ant");
    assert_string_equal(rp_dataset_class_name(ds, 1), "bee");
    assert_string_equal(rp_dataset_class_name(ds, 2), "cat");
    for (int i = 0; i < 12; i++) { /* in class turns: ant, bee, cat, ant, ... */
        assert_int_equal(ds->labels[i], i % 3);
        uint8_t v[3];
        class_colour(i % 3, v);
        assert_colour(ds, i, v, 3); /* constant JPEGs decode within 3 levels */
    }
    /* the number of decoding threads changes nothing */
    assert_memory_equal(ds->pixels, ds3->pixels, (size_t)12 * 16 * 16 * 3);
    assert_memory_equal(ds->labels, ds3->labels, 12 * sizeof(int32_t));
    rp_dataset_destroy(ds3);
    rp_dataset_destroy(ds);
    /* without a size: the first image's (ant/img0.jpg is 24x24); ",gray" gives one channel */
    snprintf(spec, sizeof spec, "folder:%s,gray", dir);
    assert_int_equal(rp_dataset_open(ctx, spec, true, &ds), RP_OK);
    assert_true(ds->H == 24 && ds->W == 24 && ds->C == 1);
    rp_dataset_destroy(ds);
    rp_ctx_destroy(ctx);
}

static void test_folder_split_layout(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    const char *dir = tmp("split");
    char sub[4096];
    const char *classes[3] = {"a", "b", "c"};
    for (int k = 0; k < 3; k++) {
        uint8_t v[3];
        class_colour(k, v);
        snprintf(sub, sizeof sub, "%s/train/%s", dir, classes[k]);
        mkdirs(sub);
        strcat(sub, "/x.jpg");
        write_constant_jpeg(sub, 8, 8, 3, v);
    }
    uint8_t v[3];
    class_colour(2, v);
    snprintf(sub, sizeof sub, "%s/val/c", dir); /* val holds only class c: still label 2 */
    mkdirs(sub);
    strcat(sub, "/y.png");
    uint8_t *p = constant(8, 8, 3, v);
    write_png(sub, p, 8, 8, 3);
    free(p);
    char spec[4200];
    snprintf(spec, sizeof spec, "folder:%s", dir);
    rp_dataset *ds = NULL;
    assert_int_equal(rp_dataset_open(ctx, spec, false, &ds), RP_OK);
    assert_int_equal(ds->N, 1);
    assert_int_equal(ds->num_classes, 3);
    assert_int_equal(ds->labels[0], 2);
    assert_colour(ds, 0, v, 0);
    rp_dataset_destroy(ds);
    snprintf(sub, sizeof sub, "%s/val/zebra", dir); /* a class the training split lacks */
    mkdirs(sub);
    assert_int_equal(rp_dataset_open(ctx, spec, false, &ds), RP_ERR_FORMAT);
    assert_mentions(ctx, "zebra");
    rp_ctx_destroy(ctx);
}

static void test_folder_errors(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    rp_dataset *ds = NULL;
    char spec[4200], path[4200];
    /* a truncated JPEG: error naming it; --skip-bad leaves it out and counts it */
    const char *dir = tmp("bad_trunc");
    make_folder(dir);
    uint8_t *g = gradient(32, 32);
    write_jpeg(tmp("bad_src.jpg"), g, 32, 32, 3, 90);
    free(g);
    snprintf(path, sizeof path, "%s/bee/img9.jpg", dir);
    truncate_copy(tmp("bad_src.jpg"), path, 400);
    snprintf(spec, sizeof spec, "folder:%s,16", dir);
    assert_int_equal(rp_dataset_open(ctx, spec, true, &ds), RP_ERR_FORMAT);
    assert_null(ds);
    assert_mentions(ctx, path);
    assert_mentions(ctx, "truncated");
    rp_data_options skip = {.workers = 2, .skip_bad = true};
    assert_int_equal(rp_dataset_open_ex(ctx, spec, true, &skip, &ds), RP_OK);
    const char *note;
    assert_int_equal(rp_dataset_skipped(ds, &note), 1);
    assert_non_null(strstr(note, path));
    assert_int_equal(ds->N, 12);
    int per_class[3] = {0};
    for (int i = 0; i < 12; i++) per_class[ds->labels[i]]++;
    for (int k = 0; k < 3; k++) assert_int_equal(per_class[k], 4);
    rp_dataset_destroy(ds);
    /* a non-image file with an image's name */
    dir = tmp("bad_text");
    make_folder(dir);
    snprintf(path, sizeof path, "%s/ant/readme.jpeg", dir);
    tu_write_file(path, "just text", 9);
    snprintf(spec, sizeof spec, "folder:%s,16", dir);
    assert_int_equal(rp_dataset_open(ctx, spec, true, &ds), RP_ERR_FORMAT);
    assert_mentions(ctx, path);
    assert_mentions(ctx, "not a JPEG or PNG");
    /* an empty class folder */
    dir = tmp("bad_empty");
    make_folder(dir);
    snprintf(path, sizeof path, "%s/dog", dir);
    mkdirs(path);
    snprintf(spec, sizeof spec, "folder:%s,16", dir);
    assert_int_equal(rp_dataset_open(ctx, spec, true, &ds), RP_ERR_FORMAT);
    assert_mentions(ctx, path);
    assert_mentions(ctx, "no images");
    /* no class folders at all, and a directory that does not exist */
    mkdirs(tmp("bad_none"));
    snprintf(spec, sizeof spec, "folder:%s", tmp("bad_none"));
    assert_int_equal(rp_dataset_open(ctx, spec, true, &ds), RP_ERR_FORMAT);
    assert_mentions(ctx, tmp("bad_none"));
    snprintf(spec, sizeof spec, "folder:%s", tmp("nowhere"));
    assert_int_equal(rp_dataset_open(ctx, spec, true, &ds), RP_ERR_IO);
    assert_mentions(ctx, tmp("nowhere"));
    rp_ctx_destroy(ctx);
}

/* ---- tiny-imagenet: ------------------------------------------------------------------- */

enum { TIN_K = 5, TIN_TRAIN = 60, TIN_VAL = 50, TIN_SIDE = 12 };
static const char *const WNIDS[TIN_K] = {"n04000000", "n01000000", "n03000000", "n02000000", "n05000000"};

/* Class of wnid i in sorted order: n01 -> 0, ..., n05 -> 4. Images are constant with a
 * colour per class; every 7th one is grayscale (value = the colour's red). */
static int sorted_class(int i) { return WNIDS[i][2] - '1'; }

static void tin_image(const char *path, int k, int i)
{
    uint8_t v[3];
    class_colour(k, v);
    write_constant_jpeg(path, TIN_SIDE, TIN_SIDE, i % 7 == 0 ? 1 : 3, v);
}

static void make_tiny(const char *dir, bool annotations, const char *bad_wnid)
{
    char path[4200];
    mkdirs(dir);
    snprintf(path, sizeof path, "%s/wnids.txt", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < TIN_K; i++) fprintf(f, "%s\n", WNIDS[i]);
    fclose(f);
    for (int i = 0; i < TIN_K; i++) {
        snprintf(path, sizeof path, "%s/train/%s/images", dir, WNIDS[i]);
        mkdirs(path);
        for (int j = 0; j < TIN_TRAIN; j++) {
            snprintf(path, sizeof path, "%s/train/%s/images/%s_%d.JPEG", dir, WNIDS[i], WNIDS[i], j);
            tin_image(path, sorted_class(i), j);
        }
        snprintf(path, sizeof path, "%s/train/%s/%s_boxes.txt", dir, WNIDS[i], WNIDS[i]);
        tu_write_file(path, "x\t0\t0\t1\t1\n", 10);
    }
    snprintf(path, sizeof path, "%s/val/images", dir);
    mkdirs(path);
    snprintf(path, sizeof path, "%s/val/val_annotations.txt", dir);
    f = annotations ? fopen(path, "w") : NULL;
    for (int j = 0; j < TIN_VAL; j++) {
        int i = (j * 3) % TIN_K;
        snprintf(path, sizeof path, "%s/val/images/val_%d.JPEG", dir, j);
        tin_image(path, sorted_class(i), j);
        if (f) fprintf(f, "val_%d.JPEG\t%s\t0\t1\t10\t11\n", j, j == 17 && bad_wnid ? bad_wnid : WNIDS[i]);
    }
    if (f) fclose(f);
}

static void test_tiny_imagenet(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    const char *dir = tmp("tiny");
    make_tiny(dir, true, NULL);
    char spec[4200];
    snprintf(spec, sizeof spec, "tiny-imagenet:%s,16", dir);
    rp_dataset *tr = NULL, *va = NULL;
    assert_int_equal(rp_dataset_open(ctx, spec, true, &tr), RP_OK);
    assert_int_equal(rp_dataset_open(ctx, spec, false, &va), RP_OK);
    assert_int_equal(tr->N, TIN_K * TIN_TRAIN);
    assert_int_equal(va->N, TIN_VAL);
    assert_true(tr->H == 16 && tr->W == 16 && tr->C == 3 && tr->num_classes == TIN_K);
    for (int k = 0; k < TIN_K; k++) { /* sorted wnids are the class names */
        char want[32];
        snprintf(want, sizeof want, "n0%d000000", k + 1);
        assert_string_equal(rp_dataset_class_name(tr, k), want);
        assert_string_equal(rp_dataset_class_name(va, k), want);
    }
    int grays = 0;
    for (int n = 0; n < tr->N; n++) {
        int k = n % TIN_K, j; /* class turns; files sort as _0, _1, _10, ...: find j from the colour */
        assert_int_equal(tr->labels[n], k);
        uint8_t v[3], g[3];
        class_colour(k, v);
        g[0] = g[1] = g[2] = v[0];
        const uint8_t *p = tr->pixels + (size_t)n * 16 * 16 * 3;
        j = abs(p[1] - v[0]) <= 3 && abs(p[2] - v[0]) <= 3; /* a gray image: all channels = red */
        grays += j;
        assert_colour(tr, n, j ? g : v, 3);
    }
    assert_int_equal(grays, TIN_K * ((TIN_TRAIN + 6) / 7));
    for (int j = 0; j < TIN_VAL; j++) {
        int k = sorted_class((j * 3) % TIN_K);
        assert_int_equal(va->labels[j], k);
        uint8_t v[3];
        class_colour(k, v);
        if (j % 7 == 0) v[1] = v[2] = v[0];
        assert_colour(va, j, v, 3);
    }
    rp_dataset_destroy(tr);
    rp_dataset_destroy(va);
    /* the default size is 64 */
    snprintf(spec, sizeof spec, "tiny-imagenet:%s", dir);
    assert_int_equal(rp_dataset_open(ctx, spec, false, &va), RP_OK);
    assert_true(va->H == 64 && va->W == 64);
    rp_dataset_destroy(va);
    rp_ctx_destroy(ctx);
}

static void test_tiny_imagenet_errors(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    rp_dataset *ds = NULL;
    char spec[4200], path[4200];
    const char *dir = tmp("tiny_noann");
    make_tiny(dir, false, NULL);
    snprintf(spec, sizeof spec, "tiny-imagenet:%s", dir);
    assert_int_equal(rp_dataset_open(ctx, spec, false, &ds), RP_ERR_IO);
    snprintf(path, sizeof path, "%s/val/val_annotations.txt", dir);
    assert_mentions(ctx, path);
    assert_int_equal(rp_dataset_open(ctx, spec, true, &ds), RP_OK); /* train needs no annotations */
    rp_dataset_destroy(ds);
    dir = tmp("tiny_badwnid");
    make_tiny(dir, true, "n09999999");
    snprintf(spec, sizeof spec, "tiny-imagenet:%s", dir);
    assert_int_equal(rp_dataset_open(ctx, spec, false, &ds), RP_ERR_FORMAT);
    snprintf(path, sizeof path, "%s/val/val_annotations.txt:18", dir);
    assert_mentions(ctx, path);
    assert_mentions(ctx, "n09999999");
    /* a class without images, and a missing wnids.txt */
    snprintf(path, sizeof path, "%s/train/n01000000/images", dir);
    for (int j = 0; j < TIN_TRAIN; j++) {
        char f[4300];
        snprintf(f, sizeof f, "%s/n01000000_%d.JPEG", path, j);
        remove(f);
    }
    assert_int_equal(rp_dataset_open(ctx, spec, true, &ds), RP_ERR_FORMAT);
    assert_mentions(ctx, path);
    snprintf(path, sizeof path, "%s/wnids.txt", dir);
    remove(path);
    assert_int_equal(rp_dataset_open(ctx, spec, true, &ds), RP_ERR_IO);
    assert_mentions(ctx, path);
    rp_ctx_destroy(ctx);
}

static void test_image_load(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    uint8_t px[3] = {255, 0, 51};
    uint8_t *p = constant(10, 20, 3, px);
    write_png(tmp("load.png"), p, 10, 20, 3);
    free(p);
    float x[6 * 6 * 3];
    assert_int_equal(rp_image_load(ctx, tmp("load.png"), 6, 6, 3, x), RP_OK);
    for (int i = 0; i < 36; i++) {
        assert_true(x[3 * i] == 1.0f && x[3 * i + 1] == 0.0f);
        assert_true(x[3 * i + 2] == 51.0f / 255.0f);
    }
    assert_int_equal(rp_image_load(ctx, tmp("load.png"), 6, 6, 2, x), RP_ERR_UNSUPPORTED);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interleave),
        cmocka_unit_test(test_jpeg_decode),
        cmocka_unit_test(test_png_decode),
        cmocka_unit_test(test_decode_errors), cmocka_unit_test(test_decode_pixel_cap),
        cmocka_unit_test(test_fit_closed_forms),
        cmocka_unit_test(test_fit_constant),
        cmocka_unit_test(test_folder),
        cmocka_unit_test(test_folder_split_layout),
        cmocka_unit_test(test_folder_errors),
        cmocka_unit_test(test_tiny_imagenet),
        cmocka_unit_test(test_tiny_imagenet_errors),
        cmocka_unit_test(test_image_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
