/* Affine warps (see warp.h for the pixel convention). */
#include "data/warp.h"

#include <math.h>
#include <string.h>

#include "core/status.h"

/* One destination row of bilinear samples: yrow = i + 0.5 in destination coordinates. */
static void warp_row_bilinear(const float *src, float *out, int H, int W, int C, const double m[6], double yrow,
                              float fill)
{
    for (int j = 0; j < W; j++) {
        double xd = j + 0.5;
        double xs = m[0] * xd + m[1] * yrow + m[2], ys = m[3] * xd + m[4] * yrow + m[5];
        float *o = out + (size_t)j * C;
        if (!(xs >= 0.0 && xs < W && ys >= 0.0 && ys < H)) { /* also catches NaN */
            for (int c = 0; c < C; c++) o[c] = fill;
            continue;
        }
        xs -= 0.5;
        ys -= 0.5;
        int x0 = (int)floor(xs), y0 = (int)floor(ys);
        float dx = (float)(xs - x0), dy = (float)(ys - y0);
        int xa = x0 < 0 ? 0 : x0, xb = x0 + 1 >= W ? W - 1 : x0 + 1;
        int ya = y0 < 0 ? 0 : y0, yb = y0 + 1 >= H ? H - 1 : y0 + 1;
        const float *r0 = src + (size_t)ya * W * C, *r1 = src + (size_t)yb * W * C;
        for (int c = 0; c < C; c++) {
            float top = r0[(size_t)xa * C + c] + (r0[(size_t)xb * C + c] - r0[(size_t)xa * C + c]) * dx;
            float bot = r1[(size_t)xa * C + c] + (r1[(size_t)xb * C + c] - r1[(size_t)xa * C + c]) * dx;
            o[c] = top + (bot - top) * dy;
        }
    }
}

static void warp_row_nearest(const float *src, float *out, int H, int W, int C, const double m[6], double yrow,
                             float fill)
{
    for (int j = 0; j < W; j++) {
        double xd = j + 0.5;
        double xs = m[0] * xd + m[1] * yrow + m[2], ys = m[3] * xd + m[4] * yrow + m[5];
        float *o = out + (size_t)j * C;
        if (!(xs >= 0.0 && xs < W && ys >= 0.0 && ys < H)) {
            for (int c = 0; c < C; c++) o[c] = fill;
            continue;
        }
        memcpy(o, src + ((size_t)(int)ys * W + (size_t)(int)xs) * C, (size_t)C * sizeof(float));
    }
}

void rp_warp_affine(const float *src, float *dst, int H, int W, int C, const double m[6], rp_interp interp,
                    float fill)
{
    RP_ASSERT(src && dst && src != dst && H > 0 && W > 0 && C > 0);
    for (int i = 0; i < H; i++) {
        float *out = dst + (size_t)i * W * C;
        if (interp == RP_INTERP_NEAREST) warp_row_nearest(src, out, H, W, C, m, i + 0.5, fill);
        else warp_row_bilinear(src, out, H, W, C, m, i + 0.5, fill);
    }
}

void rp_warp_rotation(double m[6], double degrees, int H, int W)
{
    /* PIL's Image.rotate: angle = -radians(degrees); the matrix rounded to 15 digits so that
       multiples of 90 degrees are exact; then recentred on (W/2, H/2). */
    double a = -degrees * (3.14159265358979323846 / 180.0);
    double cs = round(cos(a) * 1e15) / 1e15, sn = round(sin(a) * 1e15) / 1e15;
    double cx = W / 2.0, cy = H / 2.0;
    m[0] = cs;
    m[1] = sn;
    m[3] = -sn;
    m[4] = cs;
    m[2] = cs * -cx + sn * -cy + cx;
    m[5] = -sn * -cx + cs * -cy + cy;
}

void rp_warp_about_centre(double m[6], double a, double b, double c, double d, int H, int W)
{
    double det = a * d - b * c;
    RP_ASSERT(det != 0.0);
    double ia = d / det, ib = -b / det, ic = -c / det, id = a / det;
    double cx = W / 2.0, cy = H / 2.0;
    /* source = A^-1 (p - c) + c */
    m[0] = ia;
    m[1] = ib;
    m[2] = cx - ia * cx - ib * cy;
    m[3] = ic;
    m[4] = id;
    m[5] = cy - ic * cx - id * cy;
}
