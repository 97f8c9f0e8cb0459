/* Optimizers and parameter-list utilities over persistent tensors, PyTorch semantics. */
#ifndef CIL_OPTIM_H
#define CIL_OPTIM_H
#include "tensor.h"

typedef struct cil_adam {
  int n;                 /* number of parameters */
  cil_tensor **p;        /* parameters (retained) */
  cil_tensor **m, **v;   /* first and second moments (persistent, owned) */
  float lr, beta1, beta2, eps, weight_decay;
  int decoupled;         /* 0: Adam (L2 added to the gradient), 1: AdamW */
  int64_t step;          /* steps taken */
} cil_adam;

cil_adam *cil_adam_new(cil_tensor **params, int n, float lr, float beta1, float beta2, float eps,
                       float weight_decay, int decoupled);
void cil_adam_free(cil_adam *o);
int cil_adam_step(cil_adam *o);          /* parameters whose .grad is NULL are skipped */
/* global L2 norm of all gradients; scaled by max_norm/(norm+1e-6) when above max_norm (torch
 * clip_grad_norm_). Returns the norm before clipping. */
double cil_clip_grad_norm(cil_tensor **params, int n, double max_norm);
/* sum of squares of n floats, accumulated in double; not finite iff some element is not finite */
double cil_sumsq(const float *g, int64_t n);
/* target <- tau*target + (1-tau)*source, elementwise over matching lists */
int cil_polyak(cil_tensor **target, cil_tensor **source, int n, float tau);
int cil_copy_params(cil_tensor **dst, cil_tensor **src, int n);
void cil_zero_grads(cil_tensor **params, int n);
#endif
