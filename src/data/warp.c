/* Affine warps (see warp.h for the pixel convention). */
#include "data/warp.h"

#include <math.h>
#include <stdbool.h>
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
        /* xs - 0.5 >= -0.5 here, so floor(xs - 0.5) = (int)(xs + 0.5) - 1 without a call */
        int x0 = (int)(xs + 0.5) - 1, y0 = (int)(ys + 0.5) - 1;
        float dx = (float)(xs - 0.5 - x0), dy = (float)(ys - 0.5 - y0);
        int xa = x0 < 0 ? 0 : x0, xb = x0 + 1 >= W ? W - 1 : x0 + 1;
        int ya = y0 < 0 ? 0 : y0, yb = y0 + 1 >= H ? H - 1 : y0 + 1;
        const float *r0 = src + (size_t)ya * W * C, *r1 = src + (size_t)yb * W * C;
        if (C == 1) {
            float top = r0[xa] + (r0[xb] - r0[xa]) * dx, bot = r1[xa] + (r1[xb] - r1[xa]) * dx;
            o[0] = top + (bot - top) * dy;
            continue;
        }
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

/* A shift by whole pixels (either interpolation gives exact copies): rows of memcpy. */
static bool integer_shift(const double m[6], int *tx, int *ty)
{
    if (m[0] != 1.0 || m[1] != 0.0 || m[3] != 0.0 || m[4] != 1.0) return false;
    if (m[2] != floor(m[2]) || m[5] != floor(m[5]) || fabs(m[2]) > 1e9 || fabs(m[5]) > 1e9) return false;
    *tx = (int)m[2];
    *ty = (int)m[5];
    return true;
}

static void warp_shift(const float *src, float *dst, int H, int W, int C, int tx, int ty, float fill)
{
    int ja = tx < 0 ? -tx : 0, jb = tx > 0 ? W - tx : W; /* dst columns that read inside */
    for (int i = 0; i < H; i++) {
        float *out = dst + (size_t)i * W * C;
        int si = i + ty;
        if (si < 0 || si >= H || ja >= jb) {
            for (size_t e = 0; e < (size_t)W * C; e++) out[e] = fill;
            continue;
        }
        for (size_t e = 0; e < (size_t)ja * C; e++) out[e] = fill;
        memcpy(out + (size_t)ja * C, src + ((size_t)si * W + ja + tx) * C, (size_t)(jb - ja) * C * sizeof(float));
        for (size_t e = (size_t)jb * C; e < (size_t)W * C; e++) out[e] = fill;
    }
}

void rp_warp_affine(const float *src, float *dst, int H, int W, int C, const double m[6], rp_interp interp,
                    float fill)
{
    RP_ASSERT(src && dst && src != dst && H > 0 && W > 0 && C > 0);
    int tx, ty;
    if (integer_shift(m, &tx, &ty)) {
        warp_shift(src, dst, H, W, C, tx, ty, fill);
        return;
    }
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
