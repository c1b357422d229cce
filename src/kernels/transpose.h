/* Matrix transposes of floats on the calling thread (a layer parallelises over samples). */
#ifndef RP_KERNELS_TRANSPOSE_H
#define RP_KERNELS_TRANSPOSE_H

/* What the transpose does with dst's elements. */
typedef enum transpose_mode {
    TRANSPOSE_WRITE,      /* dst = v */
    TRANSPOSE_WRITE_ZERO, /* dst = 0 + v: the bits of adding into zeros (-0 becomes +0) */
    TRANSPOSE_ADD,        /* dst += v */
} transpose_mode;

/* dst (C, R) from src (R, C): dst[c R + r] = src[r C + c] under mode. 8x8 blocks go through
 * registers (three rounds of shuffles); the edges element by element. The same values as the
 * element loop, whatever the SIMD level. */
void transpose_f32(float *dst, const float *src, int R, int C, transpose_mode mode);

#endif
