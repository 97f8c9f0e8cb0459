"""Shared pieces of the PyTorch 1.13 baseline benchmarks (bench/torch_*.py).

Run the scripts with Debian's interpreter, /usr/bin/python3 (the only one with torch).

Import this module FIRST, before anything imports torch: at import time it reads
--blas-threads / --torch-threads from sys.argv and exports OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS and MKL_NUM_THREADS, which OpenBLAS only reads when it is loaded
(i.e. when torch is imported).  torch.set_num_threads() does not control OpenBLAS.

Contents:
  - parse_args():  common CLI (--torch-threads, --blas-threads, --seconds, --seed) + extras
  - mlp():         torchrl-style MLP (Linear/act stack, no output activation, default init)
  - TanhNormalActor, sample_actor(), action_log_prob():  the tanh-Gaussian actor (spec §2.2)
  - DoubleQ, polyak_update():  double-Q critic on [o, a] (spec §2.3)
  - l2(), linear_flops():  helpers
  - measure(), emit():  timing (warm-up, N timed iterations, median of repeats) and JSON lines
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

if "torch" in sys.modules:
    raise RuntimeError("torch_common must be imported before torch (thread pinning happens at import)")


def _common_parser():
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--torch-threads", type=int, default=1,
                   help="torch.set_num_threads (ATen/OpenMP intra-op threads)")
    p.add_argument("--blas-threads", type=int, default=1,
                   help="OPENBLAS/OMP/MKL_NUM_THREADS, exported before torch is imported")
    p.add_argument("--seconds", type=float, default=3.0, help="time budget per measurement (after warm-up)")
    p.add_argument("--seed", type=int, default=0)
    return p


_pre, _ = _common_parser().parse_known_args()
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(_pre.blas_threads)

import torch  # noqa: E402  (must come after the environment is set)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torch.distributions as D  # noqa: E402


def _openblas_threads():
    """Thread count OpenBLAS actually uses (it is already loaded by torch), or None."""
    try:
        import ctypes
        lib = ctypes.CDLL("libopenblas.so.0")
        return int(lib.openblas_get_num_threads())
    except (OSError, AttributeError):
        return None


def parse_args(description, add_args=None):
    """Full CLI; applies torch thread count and seed.  add_args(parser) adds script options."""
    p = argparse.ArgumentParser(description=description, parents=[_common_parser()])
    if add_args is not None:
        add_args(p)
    args = p.parse_args()
    torch.set_num_threads(args.torch_threads)
    torch.manual_seed(args.seed)
    ob = _openblas_threads()
    print(f"# torch {torch.__version__}: torch threads {torch.get_num_threads()}, "
          f"OpenBLAS threads {ob}, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}",
          file=sys.stderr)
    if ob is not None and ob != args.blas_threads:
        print(f"# WARNING: OpenBLAS reports {ob} threads, asked for {args.blas_threads}", file=sys.stderr)
    return args


# --------------------------------------------------------------------------- networks

def mlp(in_dim, hidden, out_dim, act=nn.SiLU):
    """torchrl MLP: Linear -> act -> ... -> Linear, no output activation, nn.Linear default init."""
    layers, last = [], in_dim
    for h in hidden:
        layers += [nn.Linear(last, h), act()]
        last = h
    layers.append(nn.Linear(last, out_dim))
    return nn.Sequential(*layers)


LOG_STD_MIN = math.log(1e-3)  # -6.907755
LOG_STD_MAX = math.log(3.0)   #  1.098612
EPS = torch.finfo(torch.float32).resolution  # 1e-6
LOC_BOUND = float(torch.atanh(torch.tensor(1.0 - EPS, dtype=torch.float32)))  # 7.2477 (float32)


class TanhAffine(D.transforms.Transform):
    """a = mid + half * tanh(u); the inverse clips to (-1+eps, 1-eps) before atanh (spec §2.2)."""
    domain = D.constraints.real
    codomain = D.constraints.real
    bijective = True

    def __init__(self, low, high):
        super().__init__(cache_size=0)  # no cache: log-prob always recomputes x from a
        self.mid = (low + high) / 2
        self.half = (high - low) / 2

    def _call(self, u):
        return self.mid + self.half * torch.tanh(u)

    def _inverse(self, a):
        return torch.atanh(torch.clip((a - self.mid) / self.half, -1.0 + EPS, 1.0 - EPS))

    def log_abs_det_jacobian(self, x, a):
        # log d/dx tanh(x) = 2 (ln 2 - x - softplus(-2x)), plus ln|half|
        return 2.0 * (math.log(2.0) - x - F.softplus(-2.0 * x)) + torch.abs(self.half).log()


class TanhNormalActor(nn.Module):
    """MLP obs -> 2*act (mu | s); log sigma = L0 + (L1-L0)/2 (tanh s + 1); mu clipped to +-atanh(1-eps)."""

    def __init__(self, obs_dim, act_dim, hidden=(256, 256, 256), act=nn.SiLU, low=-1.0, high=1.0):
        super().__init__()
        self.mlp = mlp(obs_dim, hidden, 2 * act_dim, act)
        self.tanh = TanhAffine(torch.full((act_dim,), float(low)), torch.full((act_dim,), float(high)))

    def stats(self, obs):
        mu, s = torch.chunk(self.mlp(obs), 2, dim=-1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(s) + 1.0)
        mu = mu.clip(-LOC_BOUND, LOC_BOUND)
        return mu, log_std.exp()

    def dist(self, obs):
        mu, std = self.stats(obs)
        return D.TransformedDistribution(D.Normal(mu, std), [self.tanh])


def sample_actor(actor, obs):
    """Reparameterized a ~ pi(.|o) and log pi(a|o) summed over action dims ([B,1]); x recomputed from a."""
    d = actor.dist(obs)
    a = d.rsample()
    return a, d.log_prob(a).sum(-1, keepdim=True)


def action_log_prob(actor, obs, act, sample=True):
    """log pi(act|o) ([B,1]) and (optionally) a fresh reparameterized sample (for the MAE log)."""
    d = actor.dist(obs)
    logp = d.log_prob(act).sum(-1, keepdim=True)
    return logp, (d.rsample() if sample else None)


class DoubleQ(nn.Module):
    """Two independent MLPs on [o, a] -> 1."""

    def __init__(self, obs_dim, act_dim, hidden=(256, 256, 256), act=nn.SiLU):
        super().__init__()
        self.q1 = mlp(obs_dim + act_dim, hidden, 1, act)
        self.q2 = mlp(obs_dim + act_dim, hidden, 1, act)

    def forward(self, o, a):
        oa = torch.cat([o, a], dim=-1)
        return self.q1(oa), self.q2(oa)


def freeze(module):
    for p in module.parameters():
        p.requires_grad_(False)
    return module


@torch.no_grad()
def polyak_update(net, target, polyak=0.995):
    for p, pt in zip(net.parameters(), target.parameters()):
        pt.mul_(polyak)
        pt.add_((1.0 - polyak) * p)


def l2(module):
    """l2(net) = 1/2 sum theta^2 over all trainable params (weights and biases)."""
    loss = 0.0
    for p in module.parameters():
        if p.requires_grad:
            loss = loss + torch.sum(p ** 2) / 2.0
    return loss


def linear_flops(dims, rows, fwd=1, wgrad=0, igrad=0, igrad_first=False):
    """FLOPs of a Linear stack dims[0]->...->dims[-1] on `rows` rows: fwd/wgrad/igrad = pass counts.
    Input gradients of the first layer are counted only if igrad_first (input requires grad)."""
    total = 0
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        mac = rows * a * b
        total += 2 * mac * (fwd + wgrad + (igrad if (i > 0 or igrad_first) else 0))
    return total


# --------------------------------------------------------------------------- timing / output

def measure(step, seconds=3.0, warmup=20, repeats=5, min_iters=3):
    """Warm up, calibrate, then `repeats` blocks of N timed calls of step() filling `seconds`.
    step() may return an int count (e.g. rows) that is summed instead of counting calls.
    Returns a dict: per_s = median wall-clock rate over the repeats, rates = per-repeat rates,
    per_cpu_s = median rate per CPU-second of this process (all its threads; insensitive to
    other processes stealing the core, but spinning BLAS threads count)."""
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    k = 0
    while k < 5 or time.perf_counter() - t0 < 0.2:
        step()
        k += 1
    dt = (time.perf_counter() - t0) / k
    n = max(min_iters, int(seconds / repeats / dt))
    rates, cpu_rates = [], []
    for _ in range(repeats):
        cnt = 0
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            r = step()
            cnt += 1 if r is None else int(r)
        t1, c1 = time.perf_counter(), time.process_time()
        rates.append(cnt / (t1 - t0))
        cpu_rates.append(cnt / max(c1 - c0, 1e-9))
    return {"per_s": statistics.median(rates), "rates": rates, "per_cpu_s": statistics.median(cpu_rates)}


def emit(name, args, m, unit="updates", **extra):
    """One JSON line on stdout for measurement m (from measure()); a human summary on stderr."""
    rec = {"bench": name, "impl": "torch", "torch_threads": args.torch_threads,
           "blas_threads": args.blas_threads, "per_s": round(m["per_s"], 3), "unit": unit,
           "per_cpu_s": round(m["per_cpu_s"], 3)}
    rec.update(extra)
    print(json.dumps(rec), flush=True)
    r = m["rates"]
    print(f"# {name}: median {m['per_s']:.2f} {unit}/s over {len(r)} repeats "
          f"(min {min(r):.2f}, max {max(r):.2f}); {m['per_cpu_s']:.2f} {unit} per CPU-second",
          file=sys.stderr, flush=True)
