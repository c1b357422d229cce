/* Image operations shared by the corruptions (see data/imgops.h for the Python each one
 * follows). Loops run along NHWC rows (W*C contiguous floats) so that they vectorise. */
#include "data/imgops.h"

#include <math.h>
#include <string.h>

#include "core/status.h"

int rp_border_index(int i, int n, rp_border b)
{
    if (i >= 0 && i < n) return i;
    switch (b) {
    case RP_BORDER_NEAREST: return i < 0 ? 0 : n - 1;
    case RP_BORDER_REFLECT: {
        int p = 2 * n, m = i % p;
        if (m < 0) m += p;
        return m < n ? m : p - 1 - m;
    }
    case RP_BORDER_MIRROR: {
        if (n == 1) return 0;
        int p = 2 * n - 2, m = i % p;
        if (m < 0) m += p;
        return m < n ? m : p - m;
    }
    }
    RP_ASSERT(!"unknown border");
    return 0;
}

size_t rp_img_sep_filter_scratch(int H, int W, int C, int KY, int KX)
{
    (void)KY;
    return (size_t)H * W * C + (size_t)(W + KX - 1) * C;
}

/* dst[t] = sum_i k[i] rows[i][t], t < n: one output row of the vertical pass */
static void rows_weighted_sum(float *restrict dst, const float *const *rows, const float *k, int K, size_t n)
{
    const float *restrict r0 = rows[0];
    float k0 = k[0];
#pragma omp simd
    for (size_t t = 0; t < n; t++) dst[t] = k0 * r0[t];
    for (int i = 1; i < K; i++) {
        const float *restrict r = rows[i];
        float ki = k[i];
#pragma omp simd
        for (size_t t = 0; t < n; t++) dst[t] += ki * r[t];
    }
}

void rp_img_sep_filter(float *out, const float *in, int H, int W, int C, const float *ky, int KY, const float *kx,
                       int KX, rp_border b, float *scratch)
{
    RP_ASSERT(KY % 2 == 1 && KX % 2 == 1 && KY <= 4097);
    const size_t R = (size_t)W * C;
    float *tmp = scratch, *pad = scratch + (size_t)H * R; /* tmp (H, W, C); pad (W + KX - 1, C) */
    const float *rows[4097];
    int ry = KY / 2, rx = KX / 2;
    for (int y = 0; y < H; y++) { /* vertical: in -> tmp */
        for (int i = 0; i < KY; i++) rows[i] = in + (size_t)rp_border_index(y + i - ry, H, b) * R;
        rows_weighted_sum(tmp + (size_t)y * R, rows, ky, KY, R);
    }
    for (int y = 0; y < H; y++) { /* horizontal: tmp -> out, through a padded row */
        const float *src = tmp + (size_t)y * R;
        for (int x = -rx; x < W + rx; x++)
            memcpy(pad + (size_t)(x + rx) * C, src + (size_t)rp_border_index(x, W, b) * C, (size_t)C * sizeof(float));
        float *restrict dst = out + (size_t)y * R;
        float k0 = kx[0];
#pragma omp simd
        for (size_t t = 0; t < R; t++) dst[t] = k0 * pad[t];
        for (int j = 1; j < KX; j++) {
            const float *restrict p = pad + (size_t)j * C;
            float kj = kx[j];
#pragma omp simd
            for (size_t t = 0; t < R; t++) dst[t] += kj * p[t];
        }
    }
}

int rp_img_gaussian_radius(double sigma, double truncate) { return (int)(truncate * sigma + 0.5); }

size_t rp_img_gaussian_scratch(int H, int W, int C, double sigma, double truncate)
{
    int K = 2 * rp_img_gaussian_radius(sigma, truncate) + 1;
    return rp_img_sep_filter_scratch(H, W, C, K, K) + (size_t)K;
}

void rp_img_gaussian(float *out, const float *in, int H, int W, int C, double sigma, double truncate, rp_border b,
                     float *scratch)
{
    RP_ASSERT(sigma > 0.0);
    int r = rp_img_gaussian_radius(sigma, truncate), K = 2 * r + 1;
    float *k = scratch; /* (K) taps, then the filter's scratch */
    double w[4097], sum = 0.0;
    RP_ASSERT(K <= 4097);
    for (int i = -r; i <= r; i++) sum += w[i + r] = exp(-0.5 * (double)i * i / (sigma * sigma));
    for (int i = 0; i < K; i++) k[i] = (float)(w[i] / sum);
    rp_img_sep_filter(out, in, H, W, C, k, K, k, K, b, scratch + K);
}

size_t rp_img_filter2d_scratch(int H, int W, int C, int KH, int KW)
{
    return (size_t)(H + KH - 1) * (W + KW - 1) * C;
}

void rp_img_filter2d(float *out, const float *in, int H, int W, int C, const float *kernel, int KH, int KW,
                     float *scratch)
{
    RP_ASSERT(KH % 2 == 1 && KW % 2 == 1);
    int ry = KH / 2, rx = KW / 2, PW = W + KW - 1;
    const size_t R = (size_t)W * C, PR = (size_t)PW * C;
    float *pad = scratch; /* (H + KH - 1, W + KW - 1, C) */
    for (int y = -ry; y < H + ry; y++) {
        const float *src = in + (size_t)rp_border_index(y, H, RP_BORDER_MIRROR) * R;
        float *dst = pad + (size_t)(y + ry) * PR;
        for (int x = -rx; x < W + rx; x++)
            memcpy(dst + (size_t)(x + rx) * C, src + (size_t)rp_border_index(x, W, RP_BORDER_MIRROR) * C,
                   (size_t)C * sizeof(float));
    }
    for (int y = 0; y < H; y++) {
        float *restrict dst = out + (size_t)y * R;
        memset(dst, 0, R * sizeof(float));
        for (int i = 0; i < KH; i++) {
            const float *prow = pad + (size_t)(y + i) * PR;
            for (int j = 0; j < KW; j++) {
                float kij = kernel[(size_t)i * KW + j];
                if (kij == 0.0f) continue;
                const float *restrict p = prow + (size_t)j * C;
#pragma omp simd
                for (size_t t = 0; t < R; t++) dst[t] += kij * p[t];
            }
        }
    }
}

/* scipy.ndimage.zoom's order-1 grid along one axis: output o of m reads input o * (n-1)/(m-1)
 * of n, between taps i0 and i1 with weight t on i1 */
static double zoom_step(int n, int m) { return m > 1 ? (double)(n - 1) / (double)(m - 1) : 1.0; }

static void zoom_tap(int o, int n, double step, int *i0, int *i1, float *t)
{
    double c = (double)o * step;
    int i = (int)c; /* c >= 0 */
    if (i > n - 1) i = n - 1;
    *i0 = i;
    *i1 = i + 1 < n ? i + 1 : n - 1;
    *t = (float)(c - i);
}

void rp_img_clipped_zoom(float *out, const float *in, int H, int W, int C, double zoom, bool centre_trim)
{
    RP_ASSERT(zoom >= 1.0 && out != in);
    int ch = (int)ceil((double)H / zoom), cw = (int)ceil((double)W / zoom);
    int top = (H - ch) / 2, left = (W - cw) / 2;
    int OH = (int)nearbyint(ch * zoom), OW = (int)nearbyint(cw * zoom); /* Python round: half to even */
    int oy0 = centre_trim ? (OH - H) / 2 : 0, ox0 = centre_trim ? (OW - W) / 2 : 0;
    double sy = zoom_step(ch, OH), sx = zoom_step(cw, OW);
    for (int y = 0; y < H; y++) {
        int a0, a1, b0, b1;
        float ty, tx;
        zoom_tap(y + oy0, ch, sy, &a0, &a1, &ty);
        const float *r0 = in + ((size_t)(top + a0) * W + left) * C, *r1 = in + ((size_t)(top + a1) * W + left) * C;
        float *dst = out + (size_t)y * W * C;
        for (int x = 0; x < W; x++) {
            zoom_tap(x + ox0, cw, sx, &b0, &b1, &tx);
            const float *p00 = r0 + (size_t)b0 * C, *p01 = r0 + (size_t)b1 * C;
            const float *p10 = r1 + (size_t)b0 * C, *p11 = r1 + (size_t)b1 * C;
            for (int c = 0; c < C; c++) {
                float top_v = p00[c] + tx * (p01[c] - p00[c]), bot_v = p10[c] + tx * (p11[c] - p10[c]);
                dst[(size_t)x * C + c] = top_v + ty * (bot_v - top_v);
            }
        }
    }
}

/* out += k * in shifted by (dy, dx) with edge replication: out[y, x] += k in[clamp(y - dy), clamp(x - dx)] */
static void add_shifted(float *out, const float *in, int H, int W, int C, int dy, int dx, float k)
{
    const size_t R = (size_t)W * C;
    int xa = dx > 0 ? dx : 0, xb = dx < 0 ? W + dx : W; /* x in [xa, xb) reads column x - dx */
    for (int y = 0; y < H; y++) {
        int sy = y - dy < 0 ? 0 : y - dy >= H ? H - 1 : y - dy;
        const float *src = in + (size_t)sy * R;
        float *restrict dst = out + (size_t)y * R;
        for (int x = 0; x < xa; x++)
            for (int c = 0; c < C; c++) dst[(size_t)x * C + c] += k * src[c];
        const float *restrict s = src - (ptrdiff_t)dx * C;
#pragma omp simd
        for (size_t t = (size_t)xa * C; t < (size_t)xb * C; t++) dst[t] += k * s[t];
        for (int x = xb; x < W; x++)
            for (int c = 0; c < C; c++) dst[(size_t)x * C + c] += k * src[(size_t)(W - 1) * C + c];
    }
}

void rp_img_motion_blur(float *out, const float *in, int H, int W, int C, int radius, double sigma,
                        double angle_deg)
{
    RP_ASSERT(out != in && radius >= 0 && sigma > 0.0);
    int width = 2 * radius + 1;
    double z = 0.0;
    for (int i = 0; i < width; i++) z += exp(-(double)i * i / (2.0 * sigma * sigma));
    /* imagecorruptions scales the direction by the kernel width and divides by its length:
     * kept literally so that the rounding of the shifts matches */
    double a = angle_deg * (3.14159265358979323846 / 180.0), py = width * sin(a), px = width * cos(a), hyp = hypot(py, px);
    memset(out, 0, (size_t)H * W * C * sizeof(float));
    for (int i = 0; i < width; i++) {
        int dy = -(int)ceil(i * py / hyp - 0.5), dx = -(int)ceil(i * px / hyp - 0.5);
        if (abs(dy) >= H || abs(dx) >= W) break; /* the motion left the image */
        float k = (float)(exp(-(double)i * i / (2.0 * sigma * sigma)) / z);
        add_shifted(out, in, H, W, C, dy, dx, k);
    }
}

void rp_img_sample_bilinear(float *px, const float *img, int H, int W, int C, double y, double x)
{
    double fy = floor(y), fx = floor(x);
    float ty = (float)(y - fy), tx = (float)(x - fx);
    int y0 = rp_border_index((int)fy, H, RP_BORDER_REFLECT), y1 = rp_border_index((int)fy + 1, H, RP_BORDER_REFLECT);
    int x0 = rp_border_index((int)fx, W, RP_BORDER_REFLECT), x1 = rp_border_index((int)fx + 1, W, RP_BORDER_REFLECT);
    const float *p00 = img + ((size_t)y0 * W + x0) * C, *p01 = img + ((size_t)y0 * W + x1) * C;
    const float *p10 = img + ((size_t)y1 * W + x0) * C, *p11 = img + ((size_t)y1 * W + x1) * C;
    for (int c = 0; c < C; c++) {
        float top = (1.0f - tx) * p00[c] + tx * p01[c], bot = (1.0f - tx) * p10[c] + tx * p11[c];
        px[c] = (1.0f - ty) * top + ty * bot;
    }
}

void rp_img_map_coordinates(float *out, const float *img, int H, int W, int C, const float *ys, const float *xs)
{
    RP_ASSERT(out != img);
    for (size_t p = 0; p < (size_t)H * W; p++) rp_img_sample_bilinear(out + p * C, img, H, W, C, ys[p], xs[p]);
}

void rp_img_rgb2hsv(float *out, const float *in, size_t n)
{
    for (size_t p = 0; p < n; p++) {
        double r = in[3 * p], g = in[3 * p + 1], b = in[3 * p + 2];
        double v = fmax(r, fmax(g, b)), d = v - fmin(r, fmin(g, b)), h = 0.0, s = 0.0;
        if (d != 0.0) {
            s = d / v;
            /* skimage assigns red, then green, then blue: on ties the later one wins */
            if (b == v) h = 4.0 + (r - g) / d;
            else if (g == v) h = 2.0 + (b - r) / d;
            else h = (g - b) / d;
            h = h / 6.0;
            h -= floor(h); /* Python's % 1.0 */
        }
        out[3 * p] = (float)h;
        out[3 * p + 1] = (float)s;
        out[3 * p + 2] = (float)v;
    }
}

void rp_img_hsv2rgb(float *out, const float *in, size_t n)
{
    for (size_t p = 0; p < n; p++) {
        double h = in[3 * p], s = in[3 * p + 1], v = in[3 * p + 2];
        double hi = floor(h * 6.0), f = h * 6.0 - hi;
        double pp = v * (1.0 - s), q = v * (1.0 - f * s), t = v * (1.0 - (1.0 - f) * s), r, g, b;
        int k = (int)hi % 6;
        if (k < 0) k += 6;
        switch (k) {
        case 0: r = v, g = t, b = pp; break;
        case 1: r = q, g = v, b = pp; break;
        case 2: r = pp, g = v, b = t; break;
        case 3: r = pp, g = q, b = v; break;
        case 4: r = t, g = pp, b = v; break;
        default: r = v, g = pp, b = q; break;
        }
        out[3 * p] = (float)r;
        out[3 * p + 1] = (float)g;
        out[3 * p + 2] = (float)b;
    }
}

void rp_img_rgb2gray(float *out, const float *in, size_t n)
{
    for (size_t p = 0; p < n; p++) out[p] = 0.2989f * in[3 * p] + 0.5870f * in[3 * p + 1] + 0.1140f * in[3 * p + 2];
}

void rp_img_quantize_u8(float *x, size_t n, bool round)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i] < 0.0f ? 0.0f : x[i] > 1.0f ? 1.0f : x[i];
        x[i] = (round ? nearbyintf(v * 255.0f) : floorf(v * 255.0f)) / 255.0f;
    }
}
