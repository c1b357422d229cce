/* Corruptions of the noise family (see data/corrupt.h). STUB: identity until implemented. */
#include "data/corrupt_internal.h"

size_t rp_cx_gaussian_noise_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_gaussian_noise(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_shot_noise_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_shot_noise(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_impulse_noise_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_impulse_noise(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_speckle_noise_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_speckle_noise(const rp_corrupt_job *j) { (void)j; }
