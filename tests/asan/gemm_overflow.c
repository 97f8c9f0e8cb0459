/* Asan builds only (CMakeLists.txt): the GEMM kernels' inner loops are not instrumented per element
 * (CIL_KERNEL_NOSAN), so the dispatch checks each operand's extent once per product. This program hands
 * cil_sgemm an output one float too short, through our kernel ("own") or OpenBLAS ("openblas"), or an
 * A too short ("own-a"), and must be stopped by ASan's heap-buffer-overflow report; ctest passes it
 * only when that report is printed. "ok" runs the same product with whole buffers and must finish. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../engine/core/internal.h"

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "ok";
  int m = 40, n = 48, k = 24; /* n >= 16: our kernel takes it */
  int ok = strcmp(mode, "ok") == 0, short_a = strcmp(mode, "own-a") == 0;
  cil_gemm_use_own(strcmp(mode, "openblas") != 0);
  float *A = malloc(sizeof(float) * (size_t)(m * k - (short_a ? 1 : 0)));
  float *B = malloc(sizeof(float) * (size_t)(k * n));
  float *C = malloc(sizeof(float) * (size_t)(m * n - (ok || short_a ? 0 : 1)));
  if (!A || !B || !C) return 2;
  for (int i = 0; i < m * k - (short_a ? 1 : 0); i++) A[i] = 1.0f;
  for (int i = 0; i < k * n; i++) B[i] = 1.0f;
  cil_sgemm(0, 0, m, n, k, 1.0f, A, k, B, n, 0.0f, C, n);
  printf("gemm_overflow %s: finished (C[0] = %g)\n", mode, (double)C[0]);
  free(A), free(B), free(C);
  return 0;
}
