/* Corruptions of the digital family (see data/corrupt.h): contrast, elastic transform,
 * pixelate, JPEG compression, saturate. Parameter rows per table follow
 * hendrycks/robustness' make_cifar_c.py (CIFAR), make_tinyimagenet_c.py (Tiny) and
 * imagecorruptions 1.1.2 (ImageNet); the 28-px rows are CIFAR's with lengths scaled to the
 * image (docs/corruptions.md). */
#include <math.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "data/corrupt_internal.h"
#include "data/imgops.h"

#define NT RP_CTABLE_COUNT

static size_t floats_for_bytes(size_t n) { return (n + sizeof(float) - 1) / sizeof(float); }

/* ------------------------------------------------------------------------------------------ */
/* contrast: (x - mean_c) * k + mean_c, the mean per channel over the image                   */

static const float CONTRAST[NT][5] = {
    [RP_CTABLE_28] = {0.75f, 0.5f, 0.4f, 0.3f, 0.15f},
    [RP_CTABLE_CIFAR] = {0.75f, 0.5f, 0.4f, 0.3f, 0.15f},
    [RP_CTABLE_TINY] = {0.4f, 0.3f, 0.2f, 0.1f, 0.05f},
    [RP_CTABLE_IMAGENET] = {0.4f, 0.3f, 0.2f, 0.1f, 0.05f},
};

size_t rp_cx_contrast_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }

void rp_cx_contrast(const rp_corrupt_job *j)
{
    const float k = CONTRAST[j->table][j->severity - 1];
    const size_t P = (size_t)j->H * j->W;
    const int C = j->C;
    double sum[3] = {0, 0, 0};
    for (size_t p = 0; p < P; p++)
        for (int c = 0; c < C; c++) sum[c] += j->img[p * C + c];
    float mean[3];
    for (int c = 0; c < C; c++) mean[c] = (float)(sum[c] / (double)P);
    for (size_t p = 0; p < P; p++)
        for (int c = 0; c < C; c++) {
            float *v = &j->img[p * C + c];
            *v = rp_clip01((*v - mean[c]) * k + mean[c]);
        }
}

/* ------------------------------------------------------------------------------------------ */
/* saturate: HSV S * k0 + k1 (identity on grayscale, where the registry calls it N/A)          */

static const float SATURATE[NT][5][2] = {
    [RP_CTABLE_28] = {{0.3f, 0}, {0.1f, 0}, {1.5f, 0}, {2, 0.1f}, {2.5f, 0.2f}},
    [RP_CTABLE_CIFAR] = {{0.3f, 0}, {0.1f, 0}, {1.5f, 0}, {2, 0.1f}, {2.5f, 0.2f}},
    [RP_CTABLE_TINY] = {{0.3f, 0}, {0.1f, 0}, {2, 0}, {5, 0.1f}, {30, 0.2f}},
    [RP_CTABLE_IMAGENET] = {{0.3f, 0}, {0.1f, 0}, {2, 0}, {5, 0.1f}, {20, 0.2f}},
};

size_t rp_cx_saturate_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }

void rp_cx_saturate(const rp_corrupt_job *j)
{
    if (j->C != 3) return;
    const float *k = SATURATE[j->table][j->severity - 1];
    const size_t P = (size_t)j->H * j->W;
    rp_img_rgb2hsv(j->img, j->img, P);
    for (size_t p = 0; p < P; p++) j->img[3 * p + 1] = rp_clip01(j->img[3 * p + 1] * k[0] + k[1]);
    rp_img_hsv2rgb(j->img, j->img, P);
    for (size_t i = 0; i < 3 * P; i++) j->img[i] = rp_clip01(j->img[i]);
}

/* ------------------------------------------------------------------------------------------ */
/* pixelate: PIL resize(BOX) down to int(W k) x int(H k), then back up with NEAREST
 * (imagecorruptions) or BOX (the CIFAR and Tiny originals). PIL resamples 8-bit images in
 * fixed point, horizontally then vertically through an 8-bit intermediate; we do the same
 * on the image quantised to 8 bits, so that outputs match PIL's bytes. */

static const double PIXELATE[NT][5] = { /* double: int(W * c) as Python computes it */
    [RP_CTABLE_28] = {0.95, 0.9, 0.85, 0.75, 0.65},
    [RP_CTABLE_CIFAR] = {0.95, 0.9, 0.85, 0.75, 0.65},
    [RP_CTABLE_TINY] = {0.9, 0.8, 0.7, 0.6, 0.5},
    [RP_CTABLE_IMAGENET] = {0.6, 0.5, 0.4, 0.3, 0.25},
};

enum { PIL_BITS = 22 }; /* Pillow's PRECISION_BITS for 8-bit images */

/* One output sample of PIL's BOX filter along an axis of n inputs scaled to m: the box's
 * weights are 1 on a run of inputs and 0 elsewhere, so a run [first, first + count) with
 * the fixed-point weight PIL rounds 1 / count to. */
typedef struct box_tap {
    int first, count, k;
} box_tap;

static void pil_box_taps(box_tap *t, int n, int m)
{
    double scale = (double)n / m, fscale = scale < 1.0 ? 1.0 : scale, support = 0.5 * fscale;
    for (int o = 0; o < m; o++) {
        double centre = (o + 0.5) * scale;
        int lo = (int)(centre - support + 0.5), hi = (int)(centre + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > n) hi = n;
        int first = -1, count = 0;
        for (int i = lo; i < hi; i++) {
            double u = (i - centre + 0.5) / fscale;
            if (u > -0.5 && u <= 0.5) {
                if (first < 0) first = i;
                count++;
            }
        }
        RP_ASSERT(count > 0);
        t[o] = (box_tap){first, count, (int)(0.5 + (1.0 / count) * (double)(1 << PIL_BITS))};
    }
}

static inline uint8_t pil_clip8(int64_t s)
{
    s >>= PIL_BITS;
    return (uint8_t)(s < 0 ? 0 : s > 255 ? 255 : s);
}

/* PIL's two-pass BOX resize (C channels of bytes): in (h, w) -> out (oh, ow); tmp holds
 * (h, ow); taps holds ow + oh box_taps. */
static void pil_resize_box(uint8_t *out, int oh, int ow, const uint8_t *in, int h, int w, int C, uint8_t *tmp,
                           box_tap *taps)
{
    box_tap *tx = taps, *ty = taps + ow;
    pil_box_taps(tx, w, ow);
    pil_box_taps(ty, h, oh);
    const uint8_t *src = in;
    if (ow != w) { /* PIL skips a pass whose size does not change */
        for (int y = 0; y < h; y++)
            for (int x = 0; x < ow; x++)
                for (int c = 0; c < C; c++) {
                    int64_t s = 1 << (PIL_BITS - 1);
                    const uint8_t *p = in + ((size_t)y * w + tx[x].first) * C + c;
                    for (int i = 0; i < tx[x].count; i++) s += (int64_t)p[(size_t)i * C] * tx[x].k;
                    tmp[((size_t)y * ow + x) * C + c] = pil_clip8(s);
                }
        src = tmp;
    }
    if (oh != h) {
        for (int y = 0; y < oh; y++)
            for (size_t xc = 0; xc < (size_t)ow * C; xc++) {
                int64_t s = 1 << (PIL_BITS - 1);
                const uint8_t *p = src + (size_t)ty[y].first * ow * C + xc;
                for (int i = 0; i < ty[y].count; i++) s += (int64_t)p[(size_t)i * ow * C] * ty[y].k;
                out[(size_t)y * ow * C + xc] = pil_clip8(s);
            }
    } else {
        memcpy(out, src, (size_t)oh * ow * C);
    }
}

/* PIL's NEAREST resize: source index (int)((n / m) (o + 0.5)), in double as Pillow does */
static void pil_resize_nearest(uint8_t *out, int oh, int ow, const uint8_t *in, int h, int w, int C)
{
    double ax = (double)w / ow, ay = (double)h / oh;
    for (int y = 0; y < oh; y++) {
        int sy = (int)(ay * (y + 0.5));
        for (int x = 0; x < ow; x++) {
            int sx = (int)(ax * (x + 0.5));
            memcpy(out + ((size_t)y * ow + x) * C, in + ((size_t)sy * w + sx) * C, (size_t)C);
        }
    }
}

static void to_u8(uint8_t *q, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) q[i] = (uint8_t)(rp_clip01(x[i]) * 255.0f + 0.5f);
}

static void from_u8(float *x, const uint8_t *q, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = q[i] * (1.0f / 255.0f);
}

size_t rp_cx_pixelate_scratch(int H, int W, int C)
{
    size_t X = (size_t)H * W * C, side = (size_t)(H > W ? H : W);
    return floats_for_bytes(3 * X) + 2 * side * (sizeof(box_tap) / sizeof(float)) + 4;
}

void rp_cx_pixelate(const rp_corrupt_job *j)
{
    const int H = j->H, W = j->W, C = j->C;
    const double k = PIXELATE[j->table][j->severity - 1];
    const size_t X = (size_t)H * W * C;
    int sw = (int)(W * k), sh = (int)(H * k);
    if (sw < 1) sw = 1;
    if (sh < 1) sh = 1;
    box_tap *taps = (box_tap *)j->scratch;
    uint8_t *q = (uint8_t *)(taps + 2 * (H > W ? H : W)), *tmp = q + X, *small = tmp + X;
    to_u8(q, j->img, X);
    pil_resize_box(small, sh, sw, q, H, W, C, tmp, taps);
    if (j->table == RP_CTABLE_IMAGENET) pil_resize_nearest(q, H, W, small, sh, sw, C);
    else pil_resize_box(q, H, W, small, sh, sw, C, tmp, taps);
    from_u8(j->img, q, X);
}

/* ------------------------------------------------------------------------------------------ */
/* jpeg_compression: a real baseline JPEG round trip with libjpeg(-turbo) as PIL saves one:
 * jpeg_set_quality(q, force_baseline), the library's defaults otherwise (ISLOW DCT, 4:2:0
 * chroma for colour, no optimised Huffman tables), decoded with its defaults (ISLOW IDCT,
 * fancy upsampling). Grayscale is coded as a 1-component JPEG: the original converts L to
 * RGB, saves, and converts back to L; RGB with R = G = B has Y = L and constant chroma 128
 * (coded exactly), so both give the same luma at a third of the work.
 * libjpeg allocates its own working memory (from malloc, freed by jpeg_destroy_*); the
 * compressed stream goes into our scratch through a destination manager that never grows,
 * so an error (longjmp back here) leaks nothing: both codec objects are destroyed and the
 * image is left as it came. Errors cannot happen short of libjpeg running out of memory.
 * No globals: the error manager and jmp_buf live on this call's stack (thread-safe). */

static const int JPEG_QUALITY[NT][5] = {
    [RP_CTABLE_28] = {80, 65, 58, 50, 40},
    [RP_CTABLE_CIFAR] = {80, 65, 58, 50, 40},
    [RP_CTABLE_TINY] = {65, 58, 50, 40, 25},
    [RP_CTABLE_IMAGENET] = {25, 18, 15, 10, 7},
};

typedef struct jpeg_fail {
    struct jpeg_error_mgr mgr;
    jmp_buf back;
} jpeg_fail;

static void jpeg_fail_exit(j_common_ptr cinfo) { longjmp(((jpeg_fail *)cinfo->err)->back, 1); }
static void jpeg_quiet(j_common_ptr cinfo) { (void)cinfo; } /* the library never prints */

static void dst_init(j_compress_ptr c) { (void)c; }
static boolean dst_full(j_compress_ptr c)
{
    ERREXIT(c, JERR_BUFFER_SIZE); /* longjmps: the stream outgrew jpeg_capacity */
    return FALSE;
}
static void dst_term(j_compress_ptr c) { (void)c; }

/* Bytes of compressed stream reserved: libjpeg-turbo's tjBufSize bound for 4:4:4 (at most 4
 * bytes a pixel of the 16-padded image, plus headers), above any 4:2:0 or gray stream. */
static size_t jpeg_capacity(int H, int W) { return (size_t)((H + 15) & ~15) * ((W + 15) & ~15) * 4 + 4096; }

size_t rp_cx_jpeg_scratch(int H, int W, int C)
{
    return floats_for_bytes((size_t)H * W * C) + floats_for_bytes(jpeg_capacity(H, W)) + 1;
}

/* Encode px (H, W, C) at quality q into buf and decode it back into px; false on error. */
static bool jpeg_round_trip(uint8_t *px, int H, int W, int C, int q, uint8_t *buf, size_t cap)
{
    struct jpeg_compress_struct enc;
    struct jpeg_decompress_struct dec;
    struct jpeg_destination_mgr dst = {buf, cap, dst_init, dst_full, dst_term};
    jpeg_fail fail;
    volatile int have_enc = 0, have_dec = 0;
    enc.err = dec.err = jpeg_std_error(&fail.mgr);
    fail.mgr.error_exit = jpeg_fail_exit;
    fail.mgr.output_message = jpeg_quiet;
    if (setjmp(fail.back)) {
        if (have_enc) jpeg_destroy_compress(&enc);
        if (have_dec) jpeg_destroy_decompress(&dec);
        return false;
    }
    jpeg_create_compress(&enc);
    have_enc = 1;
    enc.dest = &dst;
    enc.image_width = (JDIMENSION)W;
    enc.image_height = (JDIMENSION)H;
    enc.input_components = C;
    enc.in_color_space = C == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&enc);
    jpeg_set_quality(&enc, q, TRUE);
    jpeg_start_compress(&enc, TRUE);
    while (enc.next_scanline < enc.image_height) {
        JSAMPROW row = px + (size_t)enc.next_scanline * W * C;
        jpeg_write_scanlines(&enc, &row, 1);
    }
    jpeg_finish_compress(&enc);
    size_t used = cap - dst.free_in_buffer;
    jpeg_destroy_compress(&enc);
    have_enc = 0;

    jpeg_create_decompress(&dec);
    have_dec = 1;
    jpeg_mem_src(&dec, buf, (unsigned long)used);
    jpeg_read_header(&dec, TRUE);
    dec.out_color_space = C == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_start_decompress(&dec);
    RP_ASSERT((int)dec.output_width == W && (int)dec.output_height == H && dec.output_components == C);
    while (dec.output_scanline < dec.output_height) {
        JSAMPROW row = px + (size_t)dec.output_scanline * W * C;
        jpeg_read_scanlines(&dec, &row, 1);
    }
    jpeg_finish_decompress(&dec);
    jpeg_destroy_decompress(&dec);
    return true;
}

void rp_cx_jpeg(const rp_corrupt_job *j)
{
    const size_t X = (size_t)j->H * j->W * j->C;
    uint8_t *px = (uint8_t *)j->scratch, *buf = (uint8_t *)(j->scratch + floats_for_bytes(X));
    to_u8(px, j->img, X);
    if (jpeg_round_trip(px, j->H, j->W, j->C, JPEG_QUALITY[j->table][j->severity - 1], buf,
                        jpeg_capacity(j->H, j->W)))
        from_u8(j->img, px, X);
}

/* ------------------------------------------------------------------------------------------ */
/* elastic_transform. ImageNet rows (imagecorruptions): displacement fields dx, dy =
 * alpha * gaussian(U(-d, d), sigma = 0.01 (H, W), reflect, truncate 3), d = 0.005 H, then a
 * bilinear resampling at (y + dy, x + dx) with half-sample-symmetric borders. The CIFAR and
 * Tiny originals first apply a random affine map (three points of a centred square, each
 * coordinate moved by U(-a, a); bilinear, BORDER_REFLECT_101), then the same resampling
 * with dx, dy = alpha * gaussian(U(-1, 1), sigma, reflect, truncate 3); their (alpha, sigma,
 * a) are fractions of the image side (32 or 64 px there; the side of the image here). */

static const double ELASTIC_FRAC[NT][5][3] = { /* (alpha, sigma, affine) / side */
    /* 28 px: CIFAR's severity 5 (a small affine map, the elastic field at sigma .04 of the side),
       its field's strength alpha rising step by step so that every severity moves more pixels
       (CIFAR's own row trades a shrinking affine map against a growing field, and falls) */
    [RP_CTABLE_28] = {{0.06, 0.04, 0.03}, {0.1, 0.04, 0.03}, {0.15, 0.04, 0.03}, {0.2, 0.04, 0.03}, {0.25, 0.04, 0.03}},
    [RP_CTABLE_CIFAR] = {{0, 0, 0.08}, {0.05, 0.2, 0.07}, {0.08, 0.06, 0.06}, {0.1, 0.04, 0.05}, {0.1, 0.03, 0.03}},
    [RP_CTABLE_TINY] = {{0, 0, 0.08}, {0.05, 0.3, 0.06}, {0.1, 0.08, 0.06}, {0.1, 0.03, 0.03}, {0.16, 0.03, 0.02}},
};
static const double ELASTIC_ALPHA_IMAGENET[5] = {250 * 0.05, 250 * 0.065, 250 * 0.085, 250 * 0.1, 250 * 0.12};

static int elastic_max_taps(int H, int W)
{
    int side = H > W ? H : W;
    return 2 * rp_img_gaussian_radius(0.3 * side, 3.0) + 1; /* the widest sigma any row uses */
}

size_t rp_cx_elastic_scratch(int H, int W, int C)
{
    int K = elastic_max_taps(H, W);
    return (size_t)H * W * C + 2 * (size_t)H * W + 2 * (size_t)K + rp_img_sep_filter_scratch(H, W, 1, K, K);
}

/* scipy's Gaussian taps: exp(-t^2 / (2 sigma^2)), t = -r..r, normalised in double */
static int gaussian_taps(float *k, double sigma)
{
    int r = rp_img_gaussian_radius(sigma, 3.0);
    double s = 0;
    for (int t = -r; t <= r; t++) s += exp(-0.5 * t * t / (sigma * sigma));
    for (int t = -r; t <= r; t++) k[t + r] = (float)(exp(-0.5 * t * t / (sigma * sigma)) / s);
    return 2 * r + 1;
}

/* field (H, W) <- alpha * gaussian(U(-d, d)), sigma (sy, sx), reflect borders, truncate 3 */
static void smooth_random_field(float *field, int H, int W, double d, double sy, double sx, double alpha,
                                rp_rng *rng, float *taps, float *scratch)
{
    const size_t P = (size_t)H * W;
    for (size_t p = 0; p < P; p++) field[p] = (float)(d * (2.0 * rp_rng_uniform(rng) - 1.0));
    int KY = gaussian_taps(taps, sy), KX = gaussian_taps(taps + KY, sx);
    rp_img_sep_filter(field, field, H, W, 1, taps, KY, taps + KY, KX, RP_BORDER_REFLECT, scratch);
    for (size_t p = 0; p < P; p++) field[p] = (float)(field[p] * alpha);
}

/* out = in under the affine map taking three points of a centred square each to a point
 * moved by U(-a, a) per coordinate (cv2.getAffineTransform + warpAffine, bilinear, reflect-101) */
static void random_affine(float *out, const float *in, int H, int W, int C, double a, rp_rng *rng)
{
    double cx = (double)(W / 2), cy = (double)(H / 2), sq = (double)((H < W ? H : W) / 3);
    double src[3][2] = {{cx + sq, cy + sq}, {cx + sq, cy - sq}, {cx - sq, cy - sq}}, dst[3][2];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 2; k++) dst[i][k] = src[i][k] + a * (2.0 * rp_rng_uniform(rng) - 1.0);
    /* the forward map dst = A src + t from the three pairs, then its inverse */
    double ux = src[0][0] - src[2][0], uy = src[0][1] - src[2][1], vx = src[1][0] - src[2][0],
           vy = src[1][1] - src[2][1], det = ux * vy - uy * vx;
    if (sq < 1) { /* under 3 px there is no square to move: identity */
        memcpy(out, in, (size_t)H * W * C * sizeof(float));
        return;
    }
    double A[2][2];
    for (int r = 0; r < 2; r++) {
        double du = dst[0][r] - dst[2][r], dv = dst[1][r] - dst[2][r];
        A[r][0] = (du * vy - dv * uy) / det;
        A[r][1] = (dv * ux - du * vx) / det;
    }
    double t0 = dst[2][0] - A[0][0] * src[2][0] - A[0][1] * src[2][1];
    double t1 = dst[2][1] - A[1][0] * src[2][0] - A[1][1] * src[2][1];
    double id = A[0][0] * A[1][1] - A[0][1] * A[1][0];
    double B[2][2] = {{A[1][1] / id, -A[0][1] / id}, {-A[1][0] / id, A[0][0] / id}};
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double px = x - t0, py = y - t1;
            double sx = B[0][0] * px + B[0][1] * py, sy = B[1][0] * px + B[1][1] * py;
            int x0 = (int)floor(sx), y0 = (int)floor(sy);
            float fx = (float)(sx - x0), fy = (float)(sy - y0);
            int xa = rp_border_index(x0, W, RP_BORDER_MIRROR), xb = rp_border_index(x0 + 1, W, RP_BORDER_MIRROR);
            int ya = rp_border_index(y0, H, RP_BORDER_MIRROR), yb = rp_border_index(y0 + 1, H, RP_BORDER_MIRROR);
            const float *p00 = in + ((size_t)ya * W + xa) * C, *p01 = in + ((size_t)ya * W + xb) * C;
            const float *p10 = in + ((size_t)yb * W + xa) * C, *p11 = in + ((size_t)yb * W + xb) * C;
            float *o = out + ((size_t)y * W + x) * C;
            for (int c = 0; c < C; c++)
                o[c] = (1 - fy) * ((1 - fx) * p00[c] + fx * p01[c]) + fy * ((1 - fx) * p10[c] + fx * p11[c]);
        }
}

void rp_cx_elastic(const rp_corrupt_job *j)
{
    const int H = j->H, W = j->W, C = j->C, K = elastic_max_taps(H, W);
    const size_t P = (size_t)H * W, X = P * C;
    float *tmp = j->scratch, *dy = tmp + X, *dx = dy + P, *taps = dx + P, *fs = taps + 2 * K;
    memcpy(tmp, j->img, X * sizeof(float));
    if (j->table == RP_CTABLE_IMAGENET) {
        double alpha = ELASTIC_ALPHA_IMAGENET[j->severity - 1], d = 0.005 * H;
        smooth_random_field(dx, H, W, d, 0.01 * H, 0.01 * W, alpha, j->rng, taps, fs);
        smooth_random_field(dy, H, W, d, 0.01 * H, 0.01 * W, alpha, j->rng, taps, fs);
    } else {
        const double *f = ELASTIC_FRAC[j->table][j->severity - 1];
        double side = H < W ? H : W;
        random_affine(tmp, j->img, H, W, C, f[2] * side, j->rng);
        if (f[0] > 0) {
            smooth_random_field(dx, H, W, 1.0, f[1] * side, f[1] * side, f[0] * side, j->rng, taps, fs);
            smooth_random_field(dy, H, W, 1.0, f[1] * side, f[1] * side, f[0] * side, j->rng, taps, fs);
        } else {
            memset(dy, 0, 2 * P * sizeof(float)); /* dy and dx, adjacent */
        }
    }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            size_t p = (size_t)y * W + x;
            dy[p] += (float)y;
            dx[p] += (float)x;
        }
    rp_img_map_coordinates(j->img, tmp, H, W, C, dy, dx);
    for (size_t i = 0; i < X; i++) j->img[i] = rp_clip01(j->img[i]);
}
