/* The graph's chains (rp_chain in nn/graph.h): planned once the readers are known, run as
 * one kernel (kernels/chain.h) in evaluation mode, forward and input gradient. */
#ifndef RP_NN_CHAIN_H
#define RP_NN_CHAIN_H

#include "kernels/conv2d.h"
#include "nn/graph.h"

/* A conv node's shape at batch B, weights and bias (NULL when none); false for other nodes
 * (nn/conv2d.c). */
bool rp_conv2d_describe(const rp_node *n, int B, conv2d_shape *s, const float **w, const float **b);

/* Find every chain (replacing an earlier plan). */
rp_status rp_chains_plan(rp_graph *g);
void rp_chains_free(rp_graph *g);
/* The chain whose first node is node, or -1. */
int rp_chain_starting_at(const rp_graph *g, int node);
/* Scratch floats the chains need at batch B on g->scratch_threads threads. */
size_t rp_chains_scratch(const rp_graph *g, int B);
/* Bytes of chain c's masks at batch B (rp_chain.masks). */
size_t rp_chain_mask_bytes(const rp_graph *g, const rp_chain *c, int B);
/* Whether chain c may run as one now: no node in it is kept (rp_graph_keep). */
bool rp_chain_usable(const rp_graph *g, const rp_chain *c);
/* The chain's evaluation forward: its last node's y from its input's. */
void rp_chain_forward(rp_graph *g, rp_chain *c, int B);
/* Its input gradient: dx = J^T dy of the last node (acc: +=). */
void rp_chain_backward(rp_graph *g, const rp_chain *c, int B, float *dx, bool acc);

#endif
