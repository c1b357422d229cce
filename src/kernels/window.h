/* Sliding-window index arithmetic shared by the gather-style backward kernels. */
#ifndef RP_KERNELS_WINDOW_H
#define RP_KERNELS_WINDOW_H

/* The output position whose window puts tap k on input position i, or -1 when none does
 * (i + pad - k must be a non-negative multiple of stride, below O windows). */
static inline int rp_tap_out(int i, int k, int pad, int stride, int O)
{
    int t = i + pad - k;
    if (t < 0 || t % stride) return -1;
    int o = t / stride;
    return o < O ? o : -1;
}

#endif
