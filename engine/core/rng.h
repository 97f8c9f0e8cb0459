/* Seeded random number generators: xoshiro256** streams seeded through splitmix64.
 * One generator per stream; same seed => same numbers on every machine. */
#ifndef CIL_RNG_H
#define CIL_RNG_H
#include <stdint.h>
#include "tensor.h"

typedef struct cil_rng {
  uint64_t s[4];
} cil_rng;

void cil_rng_seed(cil_rng *r, uint64_t seed);
uint64_t cil_rng_next(cil_rng *r);
double cil_rng_uniform(cil_rng *r);                 /* [0, 1), 53 bits */
double cil_rng_normal(cil_rng *r);                  /* N(0, 1) */
uint64_t cil_rng_below(cil_rng *r, uint64_t n);     /* uniform integer in [0, n), unbiased */
void cil_rng_fill_uniform(cil_rng *r, float *out, int64_t n, float lo, float hi);
void cil_rng_fill_normal(cil_rng *r, float *out, int64_t n, float mean, float std);
void cil_rng_permutation(cil_rng *r, float *out, int64_t n, int base);
cil_rng *cil_default_rng(void);

/* arena tensors */
cil_tensor *cil_rand(cil_rng *r, int ndim, const int *shape, float lo, float hi);
cil_tensor *cil_randn(cil_rng *r, int ndim, const int *shape, float mean, float std);
cil_tensor *cil_randint(cil_rng *r, int ndim, const int *shape, int64_t lo, int64_t hi); /* [lo, hi) */
cil_tensor *cil_randperm(cil_rng *r, int64_t n, int base);
#endif
