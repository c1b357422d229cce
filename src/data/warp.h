/* Affine warps of one image (H, W, C), NHWC float, shared by the geometric corruptions
 * (corrupt_geometric.c) and AugMix (augmix.c).
 *
 * Pixel convention (PIL's, so that AugMix matches Image.transform): the image is the
 * rectangle [0, W) x [0, H) in continuous coordinates (x right, y down); pixel (i, j)
 * (row i, column j) is the unit square [j, j+1) x [i, i+1) with its centre at
 * (j + 0.5, i + 0.5). Destination pixel (i, j) takes the source value at
 *     xs = m[0] * (j + 0.5) + m[1] * (i + 0.5) + m[2]
 *     ys = m[3] * (j + 0.5) + m[4] * (i + 0.5) + m[5]
 * (m is the INVERSE map, destination -> source, as PIL's AFFINE data). A sample point
 * outside [0, W) x [0, H) takes the fill value (a hard edge, no blending with the fill);
 * inside, bilinear interpolates between the four nearest pixel centres with neighbours
 * beyond the edge clamped to the edge pixel (the outer half pixel repeats the edge), and
 * nearest takes the pixel whose square holds the point. Coordinates are computed in
 * double, as PIL does, so that points on a boundary fall on the same side. */
#ifndef RP_DATA_WARP_H
#define RP_DATA_WARP_H

typedef enum rp_interp { RP_INTERP_NEAREST, RP_INTERP_BILINEAR } rp_interp;

/* dst (H, W, C) <- src (H, W, C) under the inverse map m; src and dst must not overlap. */
void rp_warp_affine(const float *src, float *dst, int H, int W, int C, const double m[6], rp_interp interp,
                    float fill);

/* The inverse map of a rotation by `degrees` counter-clockwise on screen (PIL's
 * Image.rotate) about the image centre (W/2, H/2), as PIL builds it (cos/sin rounded to 15
 * digits). */
void rp_warp_rotation(double m[6], double degrees, int H, int W);

/* The inverse map of the forward map "about the centre": a point p goes to
 * A (p - c) + c with A = [a b; c d] and c = (W/2, H/2); A must be invertible. */
void rp_warp_about_centre(double m[6], double a, double b, double c, double d, int H, int W);

#endif
