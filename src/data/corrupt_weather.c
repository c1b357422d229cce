/* Corruptions of the weather family (see data/corrupt.h). STUB: identity until implemented. */
#include "data/corrupt_internal.h"

size_t rp_cx_snow_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_snow(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_frost_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_frost(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_fog_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_fog(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_brightness_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_brightness(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_spatter_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_spatter(const rp_corrupt_job *j) { (void)j; }
