/* data/imgops: hand-computed cases, values from scipy/skimage (noted where), and naive
 * double-precision implementations of the same definitions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/imgops.h"
#include "testutil.h"

static void test_border_index(void **state)
{
    (void)state;
    /* n = 4, a b c d */
    assert_int_equal(rp_border_index(-2, 4, RP_BORDER_NEAREST), 0);
    assert_int_equal(rp_border_index(9, 4, RP_BORDER_NEAREST), 3);
    /* reflect: ... b a | a b c d | d c b a | a ... */
    static const int R[] = {0, 0, 1, 2, 3, 3, 2, 1, 0, 0, 1}; /* i = -9 .. -5 then 4 .. 9 */
    static const int RI[] = {-9, -8, -7, -6, -5, 4, 5, 6, 7, 8, 9};
    for (int k = 0; k < 11; k++) assert_int_equal(rp_border_index(RI[k], 4, RP_BORDER_REFLECT), R[k]);
    assert_int_equal(rp_border_index(-1, 4, RP_BORDER_REFLECT), 0);
    assert_int_equal(rp_border_index(-4, 4, RP_BORDER_REFLECT), 3);
    /* mirror (reflect 101): ... c b | a b c d | c b a b ... */
    assert_int_equal(rp_border_index(-1, 4, RP_BORDER_MIRROR), 1);
    assert_int_equal(rp_border_index(-3, 4, RP_BORDER_MIRROR), 3);
    assert_int_equal(rp_border_index(-4, 4, RP_BORDER_MIRROR), 2);
    assert_int_equal(rp_border_index(4, 4, RP_BORDER_MIRROR), 2);
    assert_int_equal(rp_border_index(6, 4, RP_BORDER_MIRROR), 0);
    assert_int_equal(rp_border_index(7, 4, RP_BORDER_MIRROR), 1);
    assert_int_equal(rp_border_index(-5, 1, RP_BORDER_MIRROR), 0);
    assert_int_equal(rp_border_index(3, 1, RP_BORDER_REFLECT), 0);
}

/* scipy's gaussian_filter by definition: a 2D sum in double over the mapped indices */
static void naive_gaussian(double *out, const float *in, int H, int W, int C, double sigma, double truncate,
                           rp_border b)
{
    int r = (int)(truncate * sigma + 0.5);
    double *w = malloc((size_t)(2 * r + 1) * sizeof(double)), sum = 0.0;
    for (int i = -r; i <= r; i++) sum += w[i + r] = exp(-0.5 * i * i / (sigma * sigma));
    for (int i = 0; i <= 2 * r; i++) w[i] /= sum;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < C; c++) {
                double acc = 0.0;
                for (int i = -r; i <= r; i++)
                    for (int j = -r; j <= r; j++)
                        acc += w[i + r] * w[j + r] *
                               in[((size_t)rp_border_index(y + i, H, b) * W + rp_border_index(x + j, W, b)) * C + c];
                out[((size_t)y * W + x) * C + c] = acc;
            }
    free(w);
}

static void test_gaussian_vs_naive(void **state)
{
    (void)state;
    enum { H = 7, W = 9, C = 3 };
    float in[H * W * C], out[H * W * C];
    double ref[H * W * C];
    tu_fill_uniform(in, H * W * C, 0.0f, 1.0f, 3);
    static const double SIGMA[] = {0.3, 1.0, 1.7, 6.0}; /* 6: radius 24, far past the image */
    static const rp_border B[] = {RP_BORDER_NEAREST, RP_BORDER_REFLECT, RP_BORDER_MIRROR};
    for (int s = 0; s < 4; s++)
        for (int b = 0; b < 3; b++) {
            float *scratch = malloc(rp_img_gaussian_scratch(H, W, C, SIGMA[s], 4.0) * sizeof(float));
            rp_img_gaussian(out, in, H, W, C, SIGMA[s], 4.0, B[b], scratch);
            naive_gaussian(ref, in, H, W, C, SIGMA[s], 4.0, B[b]);
            for (int i = 0; i < H * W * C; i++)
                if (fabs(out[i] - ref[i]) > 2e-6) fail_msg("sigma %g border %d: [%d] %g vs %g", SIGMA[s], b, i, out[i], ref[i]);
            memcpy(out, in, sizeof in); /* in place */
            rp_img_gaussian(out, out, H, W, C, SIGMA[s], 4.0, B[b], scratch);
            for (int i = 0; i < H * W * C; i++) assert_true(fabs(out[i] - ref[i]) <= 2e-6);
            free(scratch);
        }
    assert_int_equal(rp_img_gaussian_radius(1.0, 4.0), 4);
    assert_int_equal(rp_img_gaussian_radius(0.1, 4.0), 0);
    assert_int_equal(rp_img_gaussian_radius(0.7, 3.0), 2);
}

/* A one-hot kernel at the top-left tap reads the pixel up and left (correlation, not
 * convolution), through OpenCV's reflect-101 border; a general kernel against a naive sum. */
static void test_filter2d(void **state)
{
    (void)state;
    enum { H = 4, W = 5, C = 2 };
    float in[H * W * C], out[H * W * C];
    for (int i = 0; i < H * W * C; i++) in[i] = (float)i;
    float k[9] = {1, 0, 0, 0, 0, 0, 0, 0, 0};
    float *scratch = malloc(rp_img_filter2d_scratch(H, W, C, 7, 5) * sizeof(float));
    rp_img_filter2d(out, in, H, W, C, k, 3, 3, scratch);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < C; c++) {
                int sy = y == 0 ? 1 : y - 1, sx = x == 0 ? 1 : x - 1;
                assert_float_equal(out[(y * W + x) * C + c], in[(sy * W + sx) * C + c], 0);
            }
    float k2[7 * 5];
    tu_fill_uniform(k2, 35, -1.0f, 1.0f, 4);
    tu_fill_uniform(in, H * W * C, 0.0f, 1.0f, 5);
    memcpy(out, in, sizeof in);
    rp_img_filter2d(out, out, H, W, C, k2, 7, 5, scratch); /* in place; kernel taller than the image */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < C; c++) {
                double acc = 0.0;
                for (int i = 0; i < 7; i++)
                    for (int j = 0; j < 5; j++)
                        acc += (double)k2[i * 5 + j] * in[(rp_border_index(y + i - 3, H, RP_BORDER_MIRROR) * W +
                                                           rp_border_index(x + j - 2, W, RP_BORDER_MIRROR)) * C + c];
                assert_true(fabs(out[(y * W + x) * C + c] - acc) < 1e-5);
            }
    free(scratch);
}

static void test_clipped_zoom(void **state)
{
    (void)state;
    /* scipy.ndimage.zoom(a[0:4, 0:4], 1.3, order=1) of a = arange(25).reshape(5, 5): 5 x 5 */
    float a[25], out[36];
    for (int i = 0; i < 25; i++) a[i] = (float)i;
    rp_img_clipped_zoom(out, a, 5, 5, 1, 1.3, false);
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 5; x++) assert_float_equal(out[y * 5 + x], 3.75 * y + 0.75 * x, 1e-5);
    /* the originals' centred trim: zoom(a[1:5, 1:5], 1.9)[1:7, 1:7] of arange(36).reshape(6, 6),
     * 8 x 8 before the trim; scipy gives 10 + 3 y + 3/7 x (steps of 3/7 per output pixel) */
    float b[36];
    for (int i = 0; i < 36; i++) b[i] = (float)i;
    rp_img_clipped_zoom(out, b, 6, 6, 1, 1.9, true);
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 6; x++) assert_float_equal(out[y * 6 + x], 10.0 + (y * 6.0 + x) * 3.0 / 7.0, 1e-5);
    /* factor 1 is the identity, for any channel count */
    float c[4 * 3 * 3], d[4 * 3 * 3];
    tu_fill_uniform(c, 36, 0.0f, 1.0f, 6);
    rp_img_clipped_zoom(d, c, 4, 3, 3, 1.0, false);
    for (int i = 0; i < 36; i++) assert_float_equal(d[i], c[i], 0);
}

/* imagecorruptions' _motion_blur by its definition, in double */
static void naive_motion(double *out, const float *in, int H, int W, int C, int radius, double sigma, double angle)
{
    int width = 2 * radius + 1;
    double z = 0.0, py = width * sin(angle * 3.14159265358979323846 / 180.0),
           px = width * cos(angle * 3.14159265358979323846 / 180.0), hyp = hypot(py, px);
    for (int i = 0; i < width; i++) z += exp(-(double)i * i / (2 * sigma * sigma));
    memset(out, 0, (size_t)H * W * C * sizeof(double));
    for (int i = 0; i < width; i++) {
        int dy = -(int)ceil(i * py / hyp - 0.5), dx = -(int)ceil(i * px / hyp - 0.5);
        if (abs(dy) >= H || abs(dx) >= W) break;
        double k = exp(-(double)i * i / (2 * sigma * sigma)) / z;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < C; c++)
                    out[((size_t)y * W + x) * C + c] +=
                        k * in[((size_t)rp_border_index(y - dy, H, RP_BORDER_NEAREST) * W +
                                rp_border_index(x - dx, W, RP_BORDER_NEAREST)) * C + c];
    }
}

static void test_motion_blur(void **state)
{
    (void)state;
    /* angle 0, radius 1: shifts dx = 0, -1, -2 => out[x] = k0 in[x] + k1 in[x+1] + k2 in[x+2],
     * the right edge replicated */
    float in[5] = {1, 2, 3, 4, 5}, out[5];
    rp_img_motion_blur(out, in, 1, 5, 1, 1, 1.0, 0.0);
    double k0 = 1.0, k1 = exp(-0.5), k2 = exp(-2.0), z = k0 + k1 + k2;
    for (int x = 0; x < 5; x++) {
        double want = (k0 * in[x] + k1 * in[x + 1 < 5 ? x + 1 : 4] + k2 * in[x + 2 < 5 ? x + 2 : 4]) / z;
        assert_float_equal(out[x], want, 1e-6);
    }
    enum { H = 11, W = 13, C = 3 };
    float a[H * W * C], b[H * W * C];
    double ref[H * W * C];
    tu_fill_uniform(a, H * W * C, 0.0f, 1.0f, 7);
    static const double ANGLE[] = {0.0, 90.0, -45.0, 30.0, -17.3, 44.9, 135.0, -120.0};
    for (int t = 0; t < 8; t++)
        for (int radius = 2; radius <= 15; radius += 13) { /* 15: the shifts leave the image, the sum stops */
            rp_img_motion_blur(b, a, H, W, C, radius, 3.0, ANGLE[t]);
            naive_motion(ref, a, H, W, C, radius, 3.0, ANGLE[t]);
            for (int i = 0; i < H * W * C; i++)
                if (fabs(b[i] - ref[i]) > 1e-5) fail_msg("angle %g radius %d: [%d] %g vs %g", ANGLE[t], radius, i, b[i], ref[i]);
        }
}

static void test_bilinear_reflect(void **state)
{
    (void)state;
    /* scipy.ndimage.map_coordinates(b, [ys, xs], order=1, mode='reflect') */
    static const float B[12] = {0, 1, 4, 9, 2, 3, 5, 7, 8, 6, 1, 0};
    static const double YS[7] = {0.5, -0.5, 1.5, 2.7, -1.3, 0.25, 3.6}, XS[7] = {0.5, 0, 2.2, 3.9, -0.7, 4.4, 1.1};
    static const double WANT[7] = {1.5, 0, 3.1, 0, 0.6, 6.8, 4.12};
    for (int k = 0; k < 7; k++) {
        float v;
        rp_img_sample_bilinear(&v, B, 3, 4, 1, YS[k], XS[k]);
        assert_float_equal(v, WANT[k], 1e-5);
    }
    /* integer coordinates give the pixels back, every channel */
    float img[3 * 4 * 2], out[3 * 4 * 2], ys[12], xs[12];
    tu_fill_uniform(img, 24, 0.0f, 1.0f, 8);
    for (int p = 0; p < 12; p++) ys[p] = (float)(p / 4), xs[p] = (float)(p % 4);
    rp_img_map_coordinates(out, img, 3, 4, 2, ys, xs);
    for (int i = 0; i < 24; i++) assert_float_equal(out[i], img[i], 1e-7);
}

static void test_color(void **state)
{
    (void)state;
    /* skimage.color.rgb2hsv of these six colours */
    static const float RGB[18] = {0.2f, 0.5f, 0.9f, 0.9f, 0.9f, 0.1f, 0.3f, 0.3f, 0.3f,
                                  0.7f, 0.1f, 0.4f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 1.0f};
    static const double HSV[18] = {0.5952380952, 0.7777777778, 0.9, 0.1666666667, 0.8888888889, 0.9,
                                   0, 0, 0.3, 0.9166666667, 0.8571428571, 0.7, 0, 0, 0, 0.8333333333, 1, 1};
    float hsv[18], back[18];
    rp_img_rgb2hsv(hsv, RGB, 6);
    for (int i = 0; i < 18; i++) assert_float_equal(hsv[i], HSV[i], 1e-6);
    rp_img_hsv2rgb(back, hsv, 6);
    for (int i = 0; i < 18; i++) assert_float_equal(back[i], RGB[i], 1e-6);
    float many[300], h2[300], b2[300];
    tu_fill_uniform(many, 300, 0.0f, 1.0f, 9);
    rp_img_rgb2hsv(h2, many, 100);
    rp_img_hsv2rgb(b2, h2, 100);
    for (int i = 0; i < 300; i++) assert_float_equal(b2[i], many[i], 1e-6);
    memcpy(b2, many, sizeof many); /* in place */
    rp_img_rgb2hsv(b2, b2, 100);
    for (int i = 0; i < 300; i++) assert_float_equal(b2[i], h2[i], 0);
    float g;
    rp_img_rgb2gray(&g, (const float[]){1.0f, 0.5f, 0.25f}, 1);
    assert_float_equal(g, 0.2989 + 0.5870 * 0.5 + 0.1140 * 0.25, 1e-6);
}

static void test_quantize(void **state)
{
    (void)state;
    /* 2.4 / 255: floor and round to 2; 3.6 / 255: 3 and 4; out of range clipped */
    float x[6] = {2.4f / 255.0f, 3.6f / 255.0f, 1.2f, -0.1f, 254.9f / 255.0f, 1.0f};
    float y[6];
    memcpy(y, x, sizeof x);
    rp_img_quantize_u8(y, 6, false);
    static const float F[6] = {2, 3, 255, 0, 254, 255}, R[6] = {2, 4, 255, 0, 255, 255};
    for (int i = 0; i < 6; i++) assert_float_equal(y[i] * 255.0f, F[i], 1e-4);
    memcpy(y, x, sizeof x);
    rp_img_quantize_u8(y, 6, true);
    for (int i = 0; i < 6; i++) assert_float_equal(y[i] * 255.0f, R[i], 1e-4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_border_index), cmocka_unit_test(test_gaussian_vs_naive),
        cmocka_unit_test(test_filter2d),     cmocka_unit_test(test_clipped_zoom),
        cmocka_unit_test(test_motion_blur),  cmocka_unit_test(test_bilinear_reflect),
        cmocka_unit_test(test_color),        cmocka_unit_test(test_quantize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
