/* The depthwise conv + batch norm backward (RP_STEP_DW_BN_TRAIN, dwconv2d_fast_backward_bn)
 * against the layer-by-layer pair it replaces (batchnorm_backward_dx writing the batch norm's
 * input gradient, then dwconv2d_fast_backward reading it), on MobileNetV2's depthwise layers at
 * 64 px (batch B): per layer the median of R interleaved calls of each, both gradients, and
 * whether the plan takes the fused step for that shape. The batch norm's sums pass, which both
 * run first, is left out. Built and run by bench/dw_bn.
 * Usage: dw_bn_bench [B] [R] */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_timing.h"
#include "kernels/actmask.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"

static float *filled(size_t n, unsigned seed)
{
    float *p = malloc(n * sizeof *p);
    if (!p) abort();
    srand(seed);
    for (size_t i = 0; i < n; i++) p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return p;
}

int main(int argc, char **argv)
{
    const int B = argc > 1 ? atoi(argv[1]) : 64, R = argc > 2 ? atoi(argv[2]) : 41;
    /* MobileNetV2 (width 1) at 64x64: each depthwise conv's input size, channels and stride */
    static const int layers[][3] = {{32, 32, 1},  {32, 96, 2}, {16, 144, 1}, {16, 144, 2}, {8, 192, 1},
                                    {8, 192, 2},  {4, 384, 1}, {4, 576, 1},  {4, 576, 2},  {2, 960, 1}};
    const int threads = omp_get_max_threads();
    printf("B %d, %d threads, median of %d calls each; ms per call\n", B, threads, R);
    printf("%-16s %8s %10s %10s %8s\n", "layer (HxWxC/s)", "fused", "bn dx+dw", "ratio", "plan");
    double *tf = malloc((size_t)R * sizeof *tf), *tu = malloc((size_t)R * sizeof *tu);
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        const int H = layers[l][0], C = layers[l][1];
        conv2d_shape s = conv2d_shape_make(B, H, H, C, C, 3, layers[l][2], 1, C);
        size_t nx = (size_t)B * H * H * C, N = (size_t)B * s.OH * s.OW, ny = N * C, nb = N * act_mask_row_bytes(C);
        float *x = filled(nx, 1), *y = filled(ny, 2), *g = filled(ny, 3), *w = filled((size_t)9 * C, 4);
        float *mean = filled((size_t)C, 5), *invstd = filled((size_t)C, 6), *gamma = filled((size_t)C, 7);
        float *dx = filled(nx, 8), *dw = filled((size_t)9 * C, 9), *gbn = filled(ny, 10);
        uint8_t *bits = malloc(nb);
        double *work = malloc(batchnorm_work_doubles(C, (size_t)B) * sizeof *work);
        float *scratch = filled(dwconv2d_fast_bn_scratch_floats(&s, threads) + dwconv2d_scratch_floats(&s), 11);
        for (size_t i = 0; i < nb; i++) bits[i] = (uint8_t)rand();
        batchnorm_grad_sums(work, g, NULL, bits, ACT_RELU6, y, mean, N, C);
        const float *k = batchnorm_dx_coeffs(work, invstd, gamma, C, 1, (double)N);
        dw_bn_grad m = {.g = g, .y = y, .mean = mean, .k = k, .bits = bits};
        for (int r = -2; r < R; r++) {
            double t0 = bench_now();
            dwconv2d_fast_backward_bn(dx, dw, &m, x, w, &s, scratch, threads, false);
            double t1 = bench_now();
            batchnorm_backward_dx(gbn, g, NULL, bits, ACT_RELU6, y, mean, invstd, gamma, N, C, 1, true, (double)N,
                                  work, false);
            dwconv2d_fast_backward(dx, dw, NULL, gbn, x, w, &s, scratch, false);
            double t2 = bench_now();
            if (r >= 0) tf[r] = t1 - t0, tu[r] = t2 - t1;
        }
        qsort(tf, (size_t)R, sizeof *tf, bench_cmp_double);
        qsort(tu, (size_t)R, sizeof *tu, bench_cmp_double);
        char name[32];
        snprintf(name, sizeof name, "%dx%dx%d/%d", H, H, C, layers[l][2]);
        printf("%-16s %8.3f %10.3f %9.2fx %8s\n", name, 1e3 * tf[R / 2], 1e3 * tu[R / 2], tu[R / 2] / tf[R / 2],
               dwconv2d_fast_bn_applies(&s) ? "fused" : "apart");
        free(x), free(y), free(g), free(w), free(mean), free(invstd), free(gamma), free(dx), free(dw), free(gbn);
        free(bits), free(work), free(scratch);
    }
    free(tf), free(tu);
    return 0;
}
