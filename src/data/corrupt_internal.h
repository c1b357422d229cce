/* What the corruption registry (corrupt.c) knows of each corruption's implementation.
 * One file per family: corrupt_noise.c, corrupt_blur.c, corrupt_weather.c,
 * corrupt_digital.c, corrupt_geometric.c (geometric and line corruptions). */
#ifndef RP_DATA_CORRUPT_INTERNAL_H
#define RP_DATA_CORRUPT_INTERNAL_H

#include "core/rng.h"
#include "data/corrupt.h"

/* One image to corrupt in place: img (H, W, C) in [0, 1]; rng seeded for this image,
 * corruption and severity; scratch of the corruption's declared size. */
typedef struct rp_corrupt_job {
    float *img;
    int H, W, C;
    int severity;             /* 1..5 */
    rp_corrupt_table table;
    rp_rng *rng;
    float *scratch;
} rp_corrupt_job;

typedef void (*rp_corrupt_fn)(const rp_corrupt_job *j);
typedef size_t (*rp_corrupt_scratch_fn)(int H, int W, int C);

#define RP_CORRUPTION_DECL(name)                                                                   \
    void rp_cx_##name(const rp_corrupt_job *j);                                                    \
    size_t rp_cx_##name##_scratch(int H, int W, int C);

RP_CORRUPTION_DECL(gaussian_noise)
RP_CORRUPTION_DECL(shot_noise)
RP_CORRUPTION_DECL(impulse_noise)
RP_CORRUPTION_DECL(speckle_noise)
RP_CORRUPTION_DECL(defocus_blur)
RP_CORRUPTION_DECL(glass_blur)
RP_CORRUPTION_DECL(motion_blur)
RP_CORRUPTION_DECL(zoom_blur)
RP_CORRUPTION_DECL(gaussian_blur)
RP_CORRUPTION_DECL(snow)
RP_CORRUPTION_DECL(frost)
RP_CORRUPTION_DECL(fog)
RP_CORRUPTION_DECL(brightness)
RP_CORRUPTION_DECL(spatter)
RP_CORRUPTION_DECL(contrast)
RP_CORRUPTION_DECL(elastic)
RP_CORRUPTION_DECL(pixelate)
RP_CORRUPTION_DECL(jpeg)
RP_CORRUPTION_DECL(saturate)
RP_CORRUPTION_DECL(rotate)
RP_CORRUPTION_DECL(shear)
RP_CORRUPTION_DECL(scale)
RP_CORRUPTION_DECL(translate)
RP_CORRUPTION_DECL(stripe)
RP_CORRUPTION_DECL(dotted_line)
RP_CORRUPTION_DECL(zigzag)

static inline float rp_clip01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

#endif
