/* Corruptions of the blur family (see data/corrupt.h). STUB: identity until implemented. */
#include "data/corrupt_internal.h"

size_t rp_cx_defocus_blur_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_defocus_blur(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_glass_blur_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_glass_blur(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_motion_blur_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_motion_blur(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_zoom_blur_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_zoom_blur(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_gaussian_blur_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_gaussian_blur(const rp_corrupt_job *j) { (void)j; }
