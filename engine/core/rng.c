/* xoshiro256** (Blackman & Vigna) with splitmix64 seeding; Marsaglia polar normals. */
#include "rng.h"
#include "internal.h"

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void cil_rng_seed(cil_rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t cil_rng_next(cil_rng *r) {
  uint64_t *s = r->s;
  uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return res;
}

double cil_rng_uniform(cil_rng *r) { return (double)(cil_rng_next(r) >> 11) * 0x1.0p-53; }

/* one polar pair; returns the first and stores the second */
static void normal_pair(cil_rng *r, double *a, double *b) {
  double u, v, s;
  do {
    u = 2.0 * cil_rng_uniform(r) - 1.0;
    v = 2.0 * cil_rng_uniform(r) - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  double f = sqrt(-2.0 * log(s) / s);
  *a = u * f;
  *b = v * f;
}

double cil_rng_normal(cil_rng *r) {
  double a, b;
  normal_pair(r, &a, &b);
  return a;
}

uint64_t cil_rng_below(cil_rng *r, uint64_t n) {
  if (n <= 1) return 0;
  uint64_t lim = UINT64_MAX - UINT64_MAX % n, x;
  do x = cil_rng_next(r);
  while (x >= lim);
  return x % n;
}

void cil_rng_fill_uniform(cil_rng *r, float *out, int64_t n, float lo, float hi) {
  double w = (double)hi - lo;
  for (int64_t i = 0; i < n; i++) {
    float v = (float)(lo + w * cil_rng_uniform(r));
    out[i] = v < hi ? v : lo; /* float rounding must not reach hi */
  }
}

void cil_rng_fill_normal(cil_rng *r, float *out, int64_t n, float mean, float std) {
  int64_t i = 0;
  for (; i + 1 < n; i += 2) {
    double a, b;
    normal_pair(r, &a, &b);
    out[i] = (float)(mean + std * a);
    out[i + 1] = (float)(mean + std * b);
  }
  if (i < n) out[i] = (float)(mean + std * cil_rng_normal(r));
}

void cil_rng_permutation(cil_rng *r, float *out, int64_t n, int base) {
  for (int64_t i = 0; i < n; i++) out[i] = (float)(i + base);
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)cil_rng_below(r, (uint64_t)i + 1);
    float t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
}

static cil_rng g_default;
static int g_default_init = 0;
cil_rng *cil_default_rng(void) {
  if (!g_default_init) {
    cil_rng_seed(&g_default, 0);
    g_default_init = 1;
  }
  return &g_default;
}

cil_tensor *cil_rand(cil_rng *r, int ndim, const int *shape, float lo, float hi) {
  CIL_CHECK(lo <= hi, "rand: low %g is greater than high %g", lo, hi);
  cil_tensor *t = cil_new(ndim, shape);
  CIL_NONNULL(t);
  cil_rng_fill_uniform(r, t->data, t->numel, lo, hi);
  return t;
}
cil_tensor *cil_randn(cil_rng *r, int ndim, const int *shape, float mean, float std) {
  cil_tensor *t = cil_new(ndim, shape);
  CIL_NONNULL(t);
  cil_rng_fill_normal(r, t->data, t->numel, mean, std);
  return t;
}
cil_tensor *cil_randint(cil_rng *r, int ndim, const int *shape, int64_t lo, int64_t hi) {
  /* bounds checked before any arithmetic on them (no overflow at the int64 limits) */
  const int64_t lim = (int64_t)1 << 24;
  CIL_CHECK(lo >= -lim && lo <= lim && hi >= -lim && hi <= lim + 1,
            "randint: bounds %lld and %lld must lie within -2^24..2^24 (integers exact in float32)",
            (long long)lo, (long long)hi - 1);
  CIL_CHECK(hi > lo, "randint: empty range [%lld, %lld)", (long long)lo, (long long)hi);
  CIL_CHECK(hi - lo <= lim, "randint: range wider than 2^24 is not exact in float32");
  cil_tensor *t = cil_new(ndim, shape);
  CIL_NONNULL(t);
  for (int64_t i = 0; i < t->numel; i++) t->data[i] = (float)(lo + (int64_t)cil_rng_below(r, (uint64_t)(hi - lo)));
  return t;
}
cil_tensor *cil_randperm(cil_rng *r, int64_t n, int base) {
  CIL_CHECK(n >= 0 && n <= (1 << 24), "randperm: n must be in 0..2^24");
  int s = (int)n;
  cil_tensor *t = cil_new(1, &s);
  CIL_NONNULL(t);
  cil_rng_permutation(r, t->data, n, base);
  return t;
}
