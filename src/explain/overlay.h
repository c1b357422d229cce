/* Rendering maps for people: colours, overlays on the image, a common display scale.
 *
 * Scaling (never min-max): a map is divided by a scale s > 0, the pct-th percentile of |v|
 * (pct = 100: the max; captum clips 2% by default, we let the caller choose). Unsigned maps show
 * t = v / s, signed maps t = 0.5 + 0.5 v / s (0 is the middle colour). A map whose scale is 0
 * (all zeros) shows t = 0 (unsigned) or 0.5 (signed) everywhere, and a constant non-zero map
 * shows t = 1 (or 0 / 1 by sign): always one flat colour, never amplified noise. Values beyond the
 * scale are clamped. Callers comparing maps pass one shared scale. */
#ifndef RP_EXPLAIN_OVERLAY_H
#define RP_EXPLAIN_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>

#include "explain/colormap.h"

/* The pct-th percentile (0 < pct <= 100, nearest rank) of |map|; when that is 0 but some value is
 * not, the max |v|. 0 for an all-zero map. */
float rp_map_scale(const float *map, size_t n, float pct);
/* Display value t in [0, 1] of v (see above). */
float rp_map_t(float v, float scale, bool is_signed);
/* rgb (H,W,3) in [0, 1]: the colour of each value. */
void rp_map_colorize(const float *map, int H, int W, float scale, bool is_signed, rp_colormap cm, float *rgb);
/* rgb (H,W,3) = (1 - alpha) * image + alpha * colour(map); a gray image (C = 1) is replicated.
 * alpha is clamped to [0, 1]. */
void rp_map_overlay(const float *img, int C, const float *map, int H, int W, float scale, bool is_signed,
                    rp_colormap cm, float alpha, float *rgb);
/* rp_view_scale (an integer magnification for viewing) is public: rampart.h; so are checked
 * forms of the functions above (rp_xai_map_scale, rp_xai_map_colorize, rp_xai_map_overlay). */

#endif
