/* Image operations the corruptions share, each matching the Python function the original
 * corruption code (hendrycks/robustness, imagecorruptions) calls, so that our corruptions
 * reproduce theirs. Images are (H, W, C) NHWC float, any C >= 1 unless stated. No function
 * allocates: each says how many floats of scratch it needs (0: none) and whether `out` may
 * alias `in`. Single-threaded (corruptions run one image per thread). */
#ifndef RP_DATA_IMGOPS_H
#define RP_DATA_IMGOPS_H

#include <stdbool.h>
#include <stddef.h>

/* How an index outside [0, n) maps back in (scipy.ndimage names; OpenCV's in brackets). */
typedef enum rp_border {
    RP_BORDER_NEAREST, /* a a a | a b c d | d d d        (BORDER_REPLICATE); skimage's default */
    RP_BORDER_REFLECT, /* c b a | a b c d | d c b        (BORDER_REFLECT) */
    RP_BORDER_MIRROR,  /* d c b | a b c d | c b a        (BORDER_REFLECT_101, OpenCV's default) */
} rp_border;

/* The index in [0, n) that i (any integer) stands for under border b. */
int rp_border_index(int i, int n, rp_border b);

/* Separable correlation: out[y,x,c] = sum_{i,j} ky[i] kx[j] in[y+i-KY/2, x+j-KX/2, c]
 * (odd KY, KX; centred taps), borders per b. out may alias in. */
size_t rp_img_sep_filter_scratch(int H, int W, int C, int KY, int KX);
void rp_img_sep_filter(float *out, const float *in, int H, int W, int C, const float *ky, int KY, const float *kx,
                       int KX, rp_border b, float *scratch);

/* skimage.filters.gaussian / scipy.ndimage.gaussian_filter over H and W (not C):
 * radius r = (int)(truncate * sigma + 0.5), taps exp(-t^2 / (2 sigma^2)) normalised (in
 * double), t = -r..r. skimage's defaults are truncate 4 and RP_BORDER_NEAREST. sigma > 0.
 * out may alias in. */
int rp_img_gaussian_radius(double sigma, double truncate);
size_t rp_img_gaussian_scratch(int H, int W, int C, double sigma, double truncate);
void rp_img_gaussian(float *out, const float *in, int H, int W, int C, double sigma, double truncate, rp_border b,
                     float *scratch);

/* cv2.filter2D(src, -1, kernel) on each channel: 2D correlation with kernel (KH, KW) (odd,
 * anchor at the centre), BORDER_REFLECT_101. out may alias in. */
size_t rp_img_filter2d_scratch(int H, int W, int C, int KH, int KW);
void rp_img_filter2d(float *out, const float *in, int H, int W, int C, const float *kernel, int KH, int KW,
                     float *scratch);

/* imagecorruptions' clipped_zoom(img, zoom) (zoom >= 1): the centre ceil(H/zoom) x
 * ceil(W/zoom) crop, scaled by scipy.ndimage.zoom(order=1) to round(ch * zoom) rows
 * (and columns), of which out gets H x W: the top-left ones (imagecorruptions) or, with
 * centre_trim, the centred ones (hendrycks/robustness' originals). No scratch; out must
 * not alias in. */
void rp_img_clipped_zoom(float *out, const float *in, int H, int W, int C, double zoom, bool centre_trim);

/* imagecorruptions' _motion_blur(x, radius, sigma, angle): the sum over i = 0..2 radius of
 * k[i] * (x shifted by (-ceil(i sin(a) - 1/2), -ceil(i cos(a) - 1/2)) with edge
 * replication), k[i] proportional to exp(-i^2 / (2 sigma^2)), stopping at the first shift
 * that reaches the image size. Angle in degrees. No scratch; out must not alias in. */
void rp_img_motion_blur(float *out, const float *in, int H, int W, int C, int radius, double sigma,
                        double angle_deg);

/* scipy.ndimage.map_coordinates(order=1, mode='reflect') at (y, x): bilinear between the
 * four neighbours of the half-sample-symmetric extended image; writes C values to px. */
void rp_img_sample_bilinear(float *px, const float *img, int H, int W, int C, double y, double x);
/* out[p, c] = sample at (ys[p], xs[p]) for the H*W pixels p (elastic transforms). out must
 * not alias img. */
void rp_img_map_coordinates(float *out, const float *img, int H, int W, int C, const float *ys, const float *xs);

/* skimage.color.rgb2hsv / hsv2rgb on n pixels of 3 values (H in [0, 1)). out may alias in. */
void rp_img_rgb2hsv(float *out, const float *in, size_t n);
void rp_img_hsv2rgb(float *out, const float *in, size_t n);
/* imagecorruptions' rgb2gray: 0.2989 R + 0.5870 G + 0.1140 B; out has n values. */
void rp_img_rgb2gray(float *out, const float *in, size_t n);

/* Round-trip through uint8 as numpy does: x = q(clip(x, 0, 1) * 255) / 255 with q = floor
 * (np.uint8(x * 255)) or, with round, round half to even (np.round(...).astype(uint8)). */
void rp_img_quantize_u8(float *x, size_t n, bool round);

#endif
