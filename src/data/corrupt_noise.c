/* Corruptions of the noise family (see data/corrupt.h): the kernels of data/noise.c with the
 * severity tables below, which are also what data/noise.h's --noise conditions and noise
 * augmentations read (rp_noise_strength), so that the two can never disagree. */
#include "data/corrupt_internal.h"
#include "data/noise.h"

/* (table, kind, severity): sigma (gaussian), photons c (shot), amount (impulse), sigma
 * (speckle). CIFAR-10-C: hendrycks/robustness make_cifar_c.py; Tiny-ImageNet-C:
 * make_tinyimagenet_c.py; ImageNet-C: imagenet_c/corruptions.py (= imagecorruptions). The
 * 28-px rows are CIFAR-10-C's: noise acts per value, so there is no pixel length to rescale
 * (docs/corruptions.md, "The 28-px table"). */
static const float NOISE_TABLE[RP_CTABLE_COUNT][RP_NOISE_COUNT][5] = {
    [RP_CTABLE_28] = {{.04f, .06f, .08f, .09f, .10f},
                      {500, 250, 100, 75, 50},
                      {.01f, .02f, .03f, .05f, .07f},
                      {.06f, .10f, .12f, .16f, .20f}},
    [RP_CTABLE_CIFAR] = {{.04f, .06f, .08f, .09f, .10f},
                         {500, 250, 100, 75, 50},
                         {.01f, .02f, .03f, .05f, .07f},
                         {.06f, .10f, .12f, .16f, .20f}},
    [RP_CTABLE_TINY] = {{.04f, .08f, .12f, .15f, .18f},
                        {250, 100, 50, 30, 15},
                        {.01f, .02f, .05f, .08f, .14f},
                        {.15f, .20f, .25f, .30f, .35f}},
    [RP_CTABLE_IMAGENET] = {{.08f, .12f, .18f, .26f, .38f},
                            {60, 25, 12, 5, 3},
                            {.03f, .06f, .09f, .17f, .27f},
                            {.15f, .20f, .35f, .45f, .60f}},
};

float rp_noise_strength(rp_noise_kind k, int severity, rp_corrupt_table t)
{
    RP_ASSERT(k >= 0 && k < RP_NOISE_COUNT && severity >= 1 && severity <= 5);
    RP_ASSERT(t >= 0 && t < RP_CTABLE_COUNT);
    return NOISE_TABLE[t][k][severity - 1];
}

static void apply(rp_noise_kind k, const rp_corrupt_job *j)
{
    rp_noise_apply(k, rp_noise_strength(k, j->severity, j->table), j->img, 1, j->H, j->W, j->C, j->rng);
}

size_t rp_cx_gaussian_noise_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_gaussian_noise(const rp_corrupt_job *j) { apply(RP_NOISE_GAUSSIAN, j); }
size_t rp_cx_shot_noise_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_shot_noise(const rp_corrupt_job *j) { apply(RP_NOISE_SHOT, j); }
size_t rp_cx_impulse_noise_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_impulse_noise(const rp_corrupt_job *j) { apply(RP_NOISE_IMPULSE, j); }
size_t rp_cx_speckle_noise_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_speckle_noise(const rp_corrupt_job *j) { apply(RP_NOISE_SPECKLE, j); }
