/* Corruptions of the weather family (see data/corrupt.h). STUB: identity until implemented. */
#include "data/corrupt_internal.h"
#include "data/imgops.h"

/* brightness: HSV V + k (grayscale: x + k) */
static const float BRIGHTNESS[RP_CTABLE_COUNT][5] = {
    [RP_CTABLE_28] = {0.05f, 0.1f, 0.15f, 0.2f, 0.3f},
    [RP_CTABLE_CIFAR] = {0.05f, 0.1f, 0.15f, 0.2f, 0.3f},
    [RP_CTABLE_TINY] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f},
    [RP_CTABLE_IMAGENET] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f},
};

size_t rp_cx_brightness_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }

void rp_cx_brightness(const rp_corrupt_job *j)
{
    const float k = BRIGHTNESS[j->table][j->severity - 1];
    const size_t P = (size_t)j->H * j->W;
    if (j->C == 1) {
        for (size_t p = 0; p < P; p++) j->img[p] = rp_clip01(j->img[p] + k);
        return;
    }
    rp_img_rgb2hsv(j->img, j->img, P);
    for (size_t p = 0; p < P; p++) j->img[3 * p + 2] = rp_clip01(j->img[3 * p + 2] + k);
    rp_img_hsv2rgb(j->img, j->img, P);
    for (size_t i = 0; i < 3 * P; i++) j->img[i] = rp_clip01(j->img[i]);
}

size_t rp_cx_snow_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_snow(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_frost_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_frost(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_fog_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_fog(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_spatter_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_spatter(const rp_corrupt_job *j) { (void)j; }
