/* Corruptions of the digital family (see data/corrupt.h). STUB: identity until implemented. */
#include "data/corrupt_internal.h"

size_t rp_cx_contrast_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_contrast(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_elastic_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_elastic(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_pixelate_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_pixelate(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_jpeg_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_jpeg(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_saturate_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_saturate(const rp_corrupt_job *j) { (void)j; }
