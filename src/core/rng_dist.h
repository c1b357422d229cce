/* Gamma, Beta and Dirichlet draws from an rp_rng stream (AugMix and PRIME mixing weights, PRIME's cut-off and temperature draws). */
#ifndef RP_CORE_RNG_DIST_H
#define RP_CORE_RNG_DIST_H

#include "core/rng.h"

/* Gamma(alpha, 1), alpha > 0: Marsaglia & Tsang (2000); alpha < 1 by the boost
 * Gamma(alpha + 1) * U^(1 / alpha). Always > 0 except by underflow for tiny alpha. */
double rp_rng_gamma(rp_rng *r, double alpha);
/* Beta(a, b) in [0, 1] as X / (X + Y), X ~ Gamma(a), Y ~ Gamma(b). */
double rp_rng_beta(rp_rng *r, double a, double b);
/* w (n) ~ Dirichlet(alpha, ..., alpha): w_i >= 0, sum w_i = 1 (up to rounding). */
void rp_rng_dirichlet(rp_rng *r, double alpha, int n, double *w);

#endif
