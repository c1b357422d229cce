/* Elementwise activations over n floats. Backward accumulates into dx.
 * relu*_forward/backward run the SIMD fast path (threads share blocks of the array);
 * the *_ref kernels are the plain loops they are tested against (bit-identical results). */
#ifndef RP_KERNELS_ACTIVATION_H
#define RP_KERNELS_ACTIVATION_H

#include <stdbool.h>
#include <stddef.h>

/* The activation a kernel applies after its own operation (a conv's or batch norm's epilogue,
 * a max-pool's or batch norm's backward through it, a mask of bits): the one enum for it. */
typedef enum act_kind { ACT_NONE = 0, ACT_RELU = 1, ACT_RELU6 = 2 } act_kind;

void relu_forward(float *y, const float *x, size_t n);
void relu_backward(float *dx, const float *dy, const float *x, size_t n);
/* min(max(x, 0), 6); gradient 1 on (0, 6), 0 elsewhere (as PyTorch's hardtanh). */
void relu6_forward(float *y, const float *x, size_t n);
void relu6_backward(float *dx, const float *dy, const float *x, size_t n);
/* acc = true: as above; false: WRITE dx = 0 + J^T dy (bit-identical to adding into a zeroed
 * dx), so a caller that owns dx need not zero it first. */
void relu_backward_ex(float *dx, const float *dy, const float *x, size_t n, bool acc);
void relu6_backward_ex(float *dx, const float *dy, const float *x, size_t n, bool acc);

/* In place, on the calling thread (no OpenMP): kernels apply an activation to a block they
 * have just written, while it is in cache. ACT_RELU / ACT_RELU6 use relu*_forward's
 * expressions (bit-identical); ACT_NONE does nothing. */
void act_inplace(float *y, size_t n, act_kind act);
/* The same over a large array, threads sharing blocks (outside parallel regions). */
void act_inplace_parallel(float *y, size_t n, act_kind act);

/* Smooth activations (plain loops, threads over large arrays; no fast variants yet).
 * sigmoid(x) = 1 / (1 + exp(-x)); its backward reads the OUTPUT y: dx (+)= dy * y * (1 - y).
 * silu(x) = x * sigmoid(x); its backward reads the INPUT x:
 * dx (+)= dy * s * (1 + x * (1 - s)), s = sigmoid(x). acc as in relu_backward_ex. */
void sigmoid_forward(float *y, const float *x, size_t n);
void sigmoid_backward_ex(float *dx, const float *dy, const float *y, size_t n, bool acc);
void silu_forward(float *y, const float *x, size_t n);
void silu_backward_ex(float *dx, const float *dy, const float *x, size_t n, bool acc);

void relu_forward_ref(float *y, const float *x, size_t n);
void relu_backward_ref(float *dx, const float *dy, const float *x, size_t n);
void relu6_forward_ref(float *y, const float *x, size_t n);
void relu6_backward_ref(float *dx, const float *dy, const float *x, size_t n);

#endif
