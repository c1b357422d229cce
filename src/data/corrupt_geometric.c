/* Corruptions of the geometric family (see data/corrupt.h). STUB: identity until implemented. */
#include "data/corrupt_internal.h"

size_t rp_cx_rotate_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_rotate(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_shear_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_shear(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_scale_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_scale(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_translate_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_translate(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_stripe_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_stripe(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_dotted_line_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_dotted_line(const rp_corrupt_job *j) { (void)j; }
size_t rp_cx_zigzag_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }
void rp_cx_zigzag(const rp_corrupt_job *j) { (void)j; }
