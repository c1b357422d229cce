/* Activation masks as bits: where a ReLU (v > 0) or ReLU6 (0 < v < 6) passes a gradient, from
 * its output v — NaN passes neither, as the batch norm's and ReLU's masks from v. One bit per
 * element, rows of C channels in ceil(C / 8) bytes, bit c % 8 of byte c / 8 (1/32 of the
 * floats: what an input-gradient pass or a batch norm's backward needs instead of v). */
#ifndef RP_KERNELS_ACTMASK_H
#define RP_KERNELS_ACTMASK_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/activation.h"
#include "kernels/simd.h"

static inline size_t act_mask_row_bytes(int C) { return ((size_t)C + 7) / 8; }

/* bits (rows x act_mask_row_bytes(C)) from y (rows, C); act: ACT_RELU or ACT_RELU6. */
void act_mask_pack(uint8_t *bits, const float *y, size_t rows, int C, act_kind act);

/* For SIMD bodies (simd.h): the lanes of channels [c, c + RP_VL) of a row's bits br
 * (c % RP_VL == 0) as all-ones / zero rp_veci lanes, to AND with a gradient's bits. */
#define RP_MASKV(br, c)                                                                     \
    ((rp_lane_bits & (RP_VL == 16 ? (br)[(c) / 8] | (br)[(c) / 8 + 1] << 8 : (br)[(c) / 8] >> ((c) % 8))) != 0)
/* One channel's bit. */
#define RP_MASK_BIT(br, c) (((br)[(c) / 8] >> ((c) % 8)) & 1)

#endif
