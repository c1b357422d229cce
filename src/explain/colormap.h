/* Colormaps for explanation maps. Documented choices:
 *   viridis    perceptually uniform, dark purple (0) -> yellow (1); the default for maps that
 *              are >= 0 (|gradient|, ReLU'd CAMs). 17 anchors of matplotlib's table (CC0),
 *              linearly interpolated.
 *   jet        MATLAB/OpenCV's JET (pytorch-grad-cam's default), for familiarity:
 *              r,g,b = clamp(1.5 - |4t - 3|, |4t - 2|, |4t - 1|).
 *   diverging  blue (t = 0) -> white (0.5) -> red (1), for signed maps centred on 0
 *              (coolwarm's end colours: blue 59,76,192 and red 180,4,38). */
#ifndef RP_EXPLAIN_COLORMAP_H
#define RP_EXPLAIN_COLORMAP_H

#include "rampart.h" /* rp_colormap, rp_colormap_name and rp_colormap_from_name are public */

/* t is clamped to [0, 1]; NaN gives mid grey. rgb in [0, 1]. */
void rp_colormap_rgb(rp_colormap cm, float t, float rgb[3]);

#endif
