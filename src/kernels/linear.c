#include "kernels/linear.h"

#include <stddef.h>
#include <string.h>

#include "kernels/gemm.h"

void linear_forward(float *y, const float *x, const float *w, const float *b, int B, int IN,
                    int OUT)
{
    /* Seed y with the bias, then let the GEMM add x W^T on top (beta = 1). */
    float beta = 0.0f;
    if (b) {
        for (int n = 0; n < B; n++) {
            float *yr = y + (size_t)n * OUT;
            for (int o = 0; o < OUT; o++) yr[o] = b[o];
        }
        beta = 1.0f;
    }
    rp_sgemm(CblasNoTrans, CblasTrans, B, OUT, IN, 1.0f, x, IN, w, IN, beta,
                y, OUT);
}

void linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                     const float *w, int B, int IN, int OUT)
{
    linear_backward_ex(dx, dw, db, dy, x, w, B, IN, OUT, true);
}

void linear_backward_ex(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, int B, int IN, int OUT, bool acc)
{
    if (dx && !acc) memset(dx, 0, (size_t)B * IN * sizeof *dx); /* small: (B, IN) */
    if (dx) /* (B, OUT) . (OUT, IN) */
        rp_sgemm(CblasNoTrans, CblasNoTrans, B, IN, OUT, 1.0f, dy, OUT, w, IN,
                    1.0f, dx, IN);
    if (dw) /* (OUT, B) . (B, IN) */
        rp_sgemm(CblasTrans, CblasNoTrans, OUT, IN, B, 1.0f, dy, OUT, x, IN,
                    1.0f, dw, IN);
    if (db) /* rows in order: the sum does not depend on threads */
        for (int n = 0; n < B; n++) {
            const float *dyr = dy + (size_t)n * OUT;
            for (int o = 0; o < OUT; o++) db[o] += dyr[o];
        }
}
