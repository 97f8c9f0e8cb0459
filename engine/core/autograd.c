/* Reverse-mode autograd on a tape.
 *
 * Every op that has an input requiring grad (while grad mode is on) appends a node to the tape. The
 * tape is in creation order, which is a topological order, so a backward pass is one reverse sweep.
 * Backward rules are written with engine ops: with create_graph they run in grad mode and record
 * their own nodes (gradients of gradients), otherwise they run with recording off.
 */
#include "internal.h"
#include <stdlib.h>
#include <string.h>

int cil_direct_grads = 0;
int cil_in_backward = 0; /* gemm_bf16.c: grad mode off inside a backward pass is not no-grad work */
cil_tensor cil_handled_sentinel;

cil_tensor *cil_direct_grad(cil_tensor *x) {
  if (!cil_direct_grads || !x->persistent || x->node || !x->requires_grad) return NULL;
  if (!x->grad) x->grad = cil_persistent(x->ndim, x->shape);
  return x->grad;
}

static struct {
  cil_node **nodes;
  int n, cap;
} T;
static uint32_t g_pass = 0;

void cil_tape_clear(void) { T.n = 0; }
int cil_tape_length(void) { return T.n; }

cil_node *cil_record(const char *name, cil_backfn fn, cil_tensor *out, int nin, cil_tensor *a,
                     cil_tensor *b, cil_tensor *c) {
  if (!out || !cil_grad_enabled()) return NULL;
  cil_tensor *ins[3] = {a, b, c};
  int any = 0;
  for (int k = 0; k < nin; k++)
    if (ins[k] && ins[k]->requires_grad) any = 1;
  if (!any) return NULL;
  cil_node *n = cil_arena_alloc(sizeof *n);
  if (!n) return NULL;
  memset(n, 0, sizeof *n);
  n->name = name;
  n->backward = fn;
  n->nin = nin;
  for (int k = 0; k < nin; k++) {
    n->in[k] = ins[k];
    cil_arena_keep(ins[k]);
  }
  n->out = out;
  out->node = n;
  out->requires_grad = 1;
  if (T.n == T.cap) {
    int cap = T.cap ? 2 * T.cap : 1024;
    cil_node **p = realloc(T.nodes, cap * sizeof *p);
    if (!p) {
      out->node = NULL;
      out->requires_grad = 0;
      return NULL;
    }
    T.nodes = p;
    T.cap = cap;
  }
  n->tape_index = T.n;
  T.nodes[T.n++] = n;
  return n;
}

/* -------------------------------------------------------------- one backward sweep */
typedef struct {
  cil_tensor **touched;
  int n, cap;
} touched_list;

static int touch(touched_list *tl, cil_tensor *t) {
  if (tl->n == tl->cap) {
    int cap = tl->cap ? 2 * tl->cap : 256;
    cil_tensor **p = realloc(tl->touched, cap * sizeof *p);
    if (!p) return 0;
    tl->touched = p;
    tl->cap = cap;
  }
  tl->touched[tl->n++] = t;
  return 1;
}

static int accumulate(touched_list *tl, cil_tensor *t, cil_tensor *g) {
  if (!cil_shape_eq(t, g)) {
    if (t->numel != g->numel) {
      cil_seterr("internal: gradient %s does not match tensor %s", cil_shapestr(g), cil_shapestr(t));
      return 0;
    }
    g = cil_reshape(g, t->ndim, t->shape);
    if (!g) return 0;
  }
  if (!t->gacc) {
    t->gacc = g;
    return touch(tl, t);
  }
  cil_tensor *s = cil_binary(CIL_ADD, t->gacc, g);
  if (!s) return 0;
  t->gacc = s;
  return 1;
}

/* all_leaves: targets are every leaf that requires grad; else targets carry mark == pass. */
static int sweep(cil_tensor **outs, cil_tensor **gouts, int nouts, int all_leaves, int create_graph,
                 touched_list *tl) {
  uint32_t pass = g_pass;
#define IS_TARGET(t) (all_leaves ? ((t)->node == NULL && (t)->requires_grad) : ((t)->mark == pass))
  int maxidx = -1;
  for (int k = 0; k < nouts; k++) {
    cil_tensor *o = outs[k];
    if (!o->requires_grad) {
      cil_seterr("backward: output %d (%s) does not require grad (made under no_grad, or from "
                 "tensors that do not require grad)", k + 1, cil_shapestr(o));
      return 0;
    }
    if (o->node && o->node->tape_index > maxidx) maxidx = o->node->tape_index;
  }
  /* forward sweep: which nodes lead to a target */
  for (int i = 0; i <= maxidx; i++) {
    cil_node *n = T.nodes[i];
    int needed = 0;
    for (int k = 0; k < n->nin && !needed; k++) {
      cil_tensor *x = n->in[k];
      if (x && (IS_TARGET(x) || (x->node && x->node->needed == pass))) needed = 1;
    }
    n->needed = needed ? pass : 0;
  }
  /* seed */
  for (int k = 0; k < nouts; k++) {
    cil_tensor *g = gouts ? gouts[k] : NULL;
    if (!g) {
      if (outs[k]->numel != 1) {
        cil_seterr("backward: output %s has %lld elements; give grad_outputs for non-scalar outputs",
                   cil_shapestr(outs[k]), (long long)outs[k]->numel);
        return 0;
      }
      g = cil_full(outs[k]->ndim, outs[k]->shape, 1.0f);
      if (!g) return 0;
    } else if (g->numel != outs[k]->numel) {
      cil_seterr("backward: grad_output %s does not match output %s", cil_shapestr(g),
                 cil_shapestr(outs[k]));
      return 0;
    }
    if (!accumulate(tl, outs[k], g)) return 0;
  }
  int prev = cil_set_grad_enabled(create_graph);
  int ok = 1;
  cil_in_backward++;
  for (int i = maxidx; i >= 0 && ok; i--) {
    cil_node *n = T.nodes[i];
    if (n->needed != pass || !n->out->gacc) continue;
    cil_tensor *gin[3] = {NULL, NULL, NULL};
    cil_tensor **gins = gin;
    int any = 0;
    for (int k = 0; k < n->nin; k++) {
      cil_tensor *x = n->in[k];
      n->need[k] = x && (IS_TARGET(x) || (x->node && x->node->needed == pass));
      any |= n->need[k];
    }
    if (!any) continue;
    n->backward(n, n->out->gacc, gins);
    for (int k = 0; k < n->nin && ok; k++) {
      if (!n->need[k] || gin[k] == CIL_HANDLED) continue;
      if (!gin[k]) {
        ok = 0;
        break;
      }
      ok = accumulate(tl, n->in[k], gin[k]);
    }
  }
  cil_in_backward--;
  cil_set_grad_enabled(prev);
  return ok;
#undef IS_TARGET
}

static void clear(touched_list *tl) {
  for (int i = 0; i < tl->n; i++) tl->touched[i]->gacc = NULL;
  free(tl->touched);
}

int cil_grad(cil_tensor **outs, cil_tensor **gouts, int n_outs, cil_tensor **inputs, int n_inputs,
             int create_graph, int allow_unused, cil_tensor **grads) {
  ++g_pass;
  for (int i = 0; i < n_inputs; i++) {
    if (!inputs[i]->requires_grad) {
      cil_seterr("grad: input %d (%s) does not require grad", i + 1, cil_shapestr(inputs[i]));
      return 0;
    }
    inputs[i]->mark = g_pass;
  }
  touched_list tl = {0};
  int ok = sweep(outs, gouts, n_outs, 0, create_graph, &tl);
  for (int i = 0; ok && i < n_inputs; i++) {
    grads[i] = inputs[i]->gacc;
    if (!grads[i] && !allow_unused) {
      cil_seterr("grad: input %d (%s) was not used to compute the outputs (pass allow_unused=true)",
                 i + 1, cil_shapestr(inputs[i]));
      ok = 0;
    }
    if (grads[i] && !create_graph) grads[i] = cil_detach(grads[i]);
  }
  clear(&tl);
  return ok;
}

static int add_into_grad(cil_tensor *leaf, cil_tensor *g) {
  if (leaf->persistent) {
    if (!leaf->grad) {
      leaf->grad = cil_persistent(leaf->ndim, leaf->shape);
      if (!leaf->grad) return 0;
    }
    float *d = leaf->grad->data;
    const float *s = g->data;
    for (int64_t i = 0; i < g->numel; i++) d[i] += s[i];
    return 1;
  }
  cil_tensor *gd = cil_detach(g);
  if (!gd) return 0;
  if (!leaf->grad) {
    leaf->grad = cil_clone(gd);
    return leaf->grad != NULL;
  }
  int prev = cil_set_grad_enabled(0);
  cil_tensor *s = cil_binary(CIL_ADD, leaf->grad, gd);
  cil_set_grad_enabled(prev);
  if (!s) return 0;
  leaf->grad = s;
  return 1;
}

int cil_backward(cil_tensor *out, cil_tensor *gout, cil_tensor **inputs, int n_inputs,
                 int create_graph) {
  ++g_pass;
  for (int i = 0; i < n_inputs; i++) inputs[i]->mark = g_pass;
  touched_list tl = {0};
  cil_tensor *outs[1] = {out}, *gouts[1] = {gout};
  cil_direct_grads = !create_graph;
  int ok = sweep(outs, gout ? gouts : NULL, 1, n_inputs == 0, create_graph, &tl);
  cil_direct_grads = 0;
  for (int i = 0; ok && i < tl.n; i++) {
    cil_tensor *t = tl.touched[i];
    int target = n_inputs ? (t->mark == g_pass) : (t->node == NULL && t->requires_grad);
    if (target && t->gacc) ok = add_into_grad(t, t->gacc);
  }
  clear(&tl);
  return ok;
}
