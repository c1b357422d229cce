/* Corruptions of the geometric family and MNIST-C's lines (see data/corrupt.h), after Mu &
 * Gilmer 2019 (google-research/mnist-c, corruptions.py). MNIST-C has one severity per
 * corruption; its setting is severity 3 here, and the ladder around it is this project's.
 * Every parameter is relative to the image size, so 28, 32 and 64 px behave alike; the
 * table (j->table) is not used. Warps are bilinear with black (0) fill, about the image
 * centre (data/warp.h); lines are white (1), added and clipped as MNIST-C does.
 *
 *   rotate     angle +-{0.2, 0.3, 0.4, 0.55, 0.7} rad           (MNIST-C: 0.4 rad)
 *   shear      skimage's AffineTransform(shear=+-s): x' = x - sin(s) y, y' = cos(s) y,
 *              s in {0.2, 0.3, 0.4, 0.55, 0.7}                   (MNIST-C: 0.4)
 *   scale      content shrunk to {0.9, 0.8, 0.7, 0.6, 0.5}       (MNIST-C: 0.7)
 *   translate  +-round(f W) px and +-round(f H) px, f = {1..5}/28 (MNIST-C: 3 of 28 px)
 *   stripe     bands of {0.1, 0.175, 0.25, 0.3, 0.35} of the side inverted at both edges,
 *              vertical or horizontal at random                   (MNIST-C: 7 of 28, vertical)
 *   dotted_line, zigzag: (lines, width) = (1, 0.5), (1, 0.75), (1, 1), (2, 1), (3, 1), width
 *              relative to MNIST-C's 2.3 px of 28 (severity 3 = MNIST-C's single line);
 *              lines run left to right or, at random, top to bottom. */
#include <math.h>
#include <string.h>

#include "data/corrupt_internal.h"
#include "data/warp.h"

static const double ROTATE_RAD[5] = {0.2, 0.3, 0.4, 0.55, 0.7};
static const double SHEAR[5] = {0.2, 0.3, 0.4, 0.55, 0.7};
static const double SCALE[5] = {0.9, 0.8, 0.7, 0.6, 0.5};
static const float STRIPE[5] = {0.1f, 0.175f, 0.25f, 0.3f, 0.35f};
static const int LINES[5] = {1, 1, 1, 2, 3};
static const float LINE_WIDTH[5] = {0.5f, 0.75f, 1.0f, 1.0f, 1.0f};

static float random_sign(rp_rng *rng) { return (rp_rng_u32(rng) & 1u) ? 1.0f : -1.0f; }

/* Warp j->img in place under the forward map A about the centre (scratch: one image). */
static void warp_job(const rp_corrupt_job *j, double a, double b, double c, double d)
{
    double m[6];
    rp_warp_about_centre(m, a, b, c, d, j->H, j->W);
    size_t n = (size_t)j->H * j->W * j->C;
    memcpy(j->scratch, j->img, n * sizeof(float));
    rp_warp_affine(j->scratch, j->img, j->H, j->W, j->C, m, RP_INTERP_BILINEAR, 0.0f);
    for (size_t i = 0; i < n; i++) j->img[i] = rp_clip01(j->img[i]);
}

static size_t one_image(int H, int W, int C) { return (size_t)H * W * C; }

size_t rp_cx_rotate_scratch(int H, int W, int C) { return one_image(H, W, C); }
void rp_cx_rotate(const rp_corrupt_job *j)
{
    double t = random_sign(j->rng) * ROTATE_RAD[j->severity - 1];
    warp_job(j, cos(t), -sin(t), sin(t), cos(t));
}

size_t rp_cx_shear_scratch(int H, int W, int C) { return one_image(H, W, C); }
void rp_cx_shear(const rp_corrupt_job *j)
{
    /* skimage (MNIST-C's version) AffineTransform(shear=s) = [[1, -sin s], [0, cos s]], used
       there as the inverse map; A is its inverse. */
    double s = random_sign(j->rng) * SHEAR[j->severity - 1];
    double ia = 1.0, ib = -sin(s), id = cos(s);
    warp_job(j, 1.0 / ia, -ib / (ia * id), 0.0, 1.0 / id);
}

size_t rp_cx_scale_scratch(int H, int W, int C) { return one_image(H, W, C); }
void rp_cx_scale(const rp_corrupt_job *j)
{
    double z = SCALE[j->severity - 1];
    warp_job(j, z, 0.0, 0.0, z);
}

size_t rp_cx_translate_scratch(int H, int W, int C) { return one_image(H, W, C); }
void rp_cx_translate(const rp_corrupt_job *j)
{
    /* whole pixels, as MNIST-C on 28 px: the shift stays sharp */
    double f = j->severity / 28.0;
    double dx = random_sign(j->rng) * fmax(1.0, round(f * j->W));
    double dy = random_sign(j->rng) * fmax(1.0, round(f * j->H));
    double m[6] = {1.0, 0.0, -dx, 0.0, 1.0, -dy};
    size_t n = one_image(j->H, j->W, j->C);
    memcpy(j->scratch, j->img, n * sizeof(float));
    rp_warp_affine(j->scratch, j->img, j->H, j->W, j->C, m, RP_INTERP_BILINEAR, 0.0f);
}

size_t rp_cx_stripe_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_stripe(const rp_corrupt_job *j)
{
    int H = j->H, W = j->W, C = j->C;
    bool vertical = rp_rng_u32(j->rng) & 1u;
    int side = vertical ? W : H;
    int band = (int)lroundf(STRIPE[j->severity - 1] * side);
    if (band < 1) band = 1;
    for (int i = 0; i < H; i++)
        for (int k = 0; k < W; k++) {
            int p = vertical ? k : i;
            if (p >= band && p < side - band) continue;
            float *px = j->img + ((size_t)i * W + k) * C;
            for (int c = 0; c < C; c++) px[c] = 1.0f - px[c];
        }
}

/* ---- lines ---------------------------------------------------------------------------------
 * A line is drawn into a mask (H, W) in [0, 1]: a pixel at distance d (pixel-centre
 * coordinates) from a segment gets MNIST-C's profile log(1 - d / w) + 1 clipped to [0, 1],
 * w = 2.3 px at 28 px scaled by size and severity; segments combine by max. The mask is
 * added to every channel and the image clipped. Lines are built in a frame where they run
 * along u (0..U) across v (0..V); `transposed` maps u to rows instead of columns. */

typedef struct line_frame {
    float *mask; /* (H, W) */
    int H, W;
    bool transposed;
    float px;    /* one MNIST-C pixel (side / 28) */
    float width; /* w in pixels */
} line_frame;

static float seg_distance(float x, float y, float x0, float y0, float x1, float y1)
{
    float dx = x1 - x0, dy = y1 - y0, L2 = dx * dx + dy * dy;
    float t = L2 > 0.0f ? ((x - x0) * dx + (y - y0) * dy) / L2 : 0.0f;
    t = t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t;
    float ex = x - (x0 + t * dx), ey = y - (y0 + t * dy);
    return sqrtf(ex * ex + ey * ey);
}

/* Segment (u0, v0)-(u1, v1) in frame coordinates; dash > 0 keeps only pixels whose u lies
 * in an odd period of length dash (MNIST-C's dotted line: 2 px on, 2 px off at 28 px). */
static void draw_segment(const line_frame *f, float u0, float v0, float u1, float v1, float dash)
{
    float x0 = f->transposed ? v0 : u0, y0 = f->transposed ? u0 : v0;
    float x1 = f->transposed ? v1 : u1, y1 = f->transposed ? u1 : v1;
    float w = f->width;
    int ja = (int)floorf(fminf(x0, x1) - w), jb = (int)ceilf(fmaxf(x0, x1) + w);
    int ia = (int)floorf(fminf(y0, y1) - w), ib = (int)ceilf(fmaxf(y0, y1) + w);
    ja = ja < 0 ? 0 : ja;
    ia = ia < 0 ? 0 : ia;
    jb = jb > f->W ? f->W : jb;
    ib = ib > f->H ? f->H : ib;
    for (int i = ia; i < ib; i++)
        for (int k = ja; k < jb; k++) {
            float x = k + 0.5f, y = i + 0.5f;
            if (dash > 0.0f && (((int)floorf((f->transposed ? y : x) / dash)) & 1) == 0) continue;
            float d = seg_distance(x, y, x0, y0, x1, y1);
            if (d >= w) continue;
            float v = logf(1.0f - d / w) + 1.0f;
            float *mk = f->mask + (size_t)i * f->W + k;
            if (v > *mk) *mk = v > 1.0f ? 1.0f : v;
        }
}

/* Set up the frame (direction at random) and clear the mask in scratch. */
static line_frame line_setup(const rp_corrupt_job *j)
{
    line_frame f = {j->scratch, j->H, j->W, false, 0, 0};
    f.transposed = rp_rng_u32(j->rng) & 1u;
    int U = f.transposed ? j->H : j->W, V = f.transposed ? j->W : j->H;
    f.px = (float)(U < V ? U : V) / 28.0f;
    f.width = 2.3f * f.px * LINE_WIDTH[j->severity - 1];
    memset(f.mask, 0, (size_t)j->H * j->W * sizeof(float));
    return f;
}

static void apply_mask(const rp_corrupt_job *j)
{
    for (size_t p = 0; p < (size_t)j->H * j->W; p++)
        for (int c = 0; c < j->C; c++) {
            float *v = j->img + p * j->C + c;
            *v = rp_clip01(*v + j->scratch[p]);
        }
}

size_t rp_cx_dotted_line_scratch(int H, int W, int C) { (void)C; return (size_t)H * W; }
void rp_cx_dotted_line(const rp_corrupt_job *j)
{
    line_frame f = line_setup(j);
    int U = f.transposed ? j->H : j->W, V = f.transposed ? j->W : j->H;
    for (int l = 0; l < LINES[j->severity - 1]; l++) {
        /* MNIST-C: from column 0 to column 27, rows uniform in [0, 27) (pixel centres) */
        float v0 = (0.5f + (float)rp_rng_below(j->rng, 27)) * V / 28.0f;
        float v1 = (0.5f + (float)rp_rng_below(j->rng, 27)) * V / 28.0f;
        draw_segment(&f, 0.5f * f.px, v0, U - 0.5f * f.px, v1, 2.0f * U / 28.0f);
    }
    apply_mask(j);
}

/* MNIST-C's zigzag: from u = 2 to u = 25 (of 28), start row r0 in [0, 27), end row
 * r0 + [-5, 5); teeth of half-period a = 2 px and amplitude b = 2 px along that line. */
static void draw_zigzag(const line_frame *f, int U, int V, rp_rng *rng)
{
    float su = U / 28.0f, sv = V / 28.0f;
    float r0 = (float)rp_rng_below(rng, 27), r1 = r0 + (float)rp_rng_below(rng, 10) - 5.0f;
    float u0 = 2.5f * su, v0 = (r0 + 0.5f) * sv, u1 = 25.5f * su, v1 = (r1 + 0.5f) * sv;
    float du = u1 - u0, dv = v1 - v0, d = sqrtf(du * du + dv * dv);
    float ex = du / d, ey = dv / d;        /* along the line */
    float nx = -ey, ny = ex;               /* across it */
    float a = 2.0f * f->px, b = 2.0f * f->px;
    float pu = u0, pv = v0;
    for (int i = 0;; i++) {
        float t = (2 * i + 1) * a, off = (i & 1) ? -b : b;
        if (t > d) { t = d; off = 0.0f; }
        float qu = u0 + t * ex + off * nx, qv = v0 + t * ey + off * ny;
        draw_segment(f, pu, pv, qu, qv, 0.0f);
        pu = qu;
        pv = qv;
        if (t >= d) break;
    }
}

size_t rp_cx_zigzag_scratch(int H, int W, int C) { (void)C; return (size_t)H * W; }
void rp_cx_zigzag(const rp_corrupt_job *j)
{
    line_frame f = line_setup(j);
    int U = f.transposed ? j->H : j->W, V = f.transposed ? j->W : j->H;
    for (int l = 0; l < LINES[j->severity - 1]; l++) draw_zigzag(&f, U, V, j->rng);
    apply_mask(j);
}
