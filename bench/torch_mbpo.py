"""PyTorch baseline: one MBPO env step with its amortized model retrain and rollouts (spec §3.3, §5.2), hopper sizes.

The work of bench/mbpo.lua, in plain eager PyTorch written the way the reference runs it. Real buffer: the
first 100,000 rows of data/hopper/medium_replay.h5 (read with h5py). Three parts, timed apart:
  policy: 10 SAC updates (torch_sac.SAC, Huber critic = smooth_l1 beta 1), each on 128 real + 128 model
     rows (torch.randint + indexing, torch.cat) -> policy_steps_per_s = updates per second
  model retrain: the 100k rows drawn without replacement, inputs [o, a], targets [o' - o, r]; format
     (randperm, eval = last min(0.2 N, 1000) = 1000 rows, scaler mean/var refit on the 99,000 train rows;
     not timed), then epochs of the 7-member ensemble (torch_ensemble.EnsembleDynamics, [E, B, in] bmm
     layout): a torch.randperm per member, 386 Adam steps on L_SL (clip_grad_norm 1000, lr 3e-4,
     loss.item() each step), the held-out MAE / NLL per member (.tolist()) and the snapshot copy of the
     members whose MAE improved by > 1%. 4 epochs run; model_epoch_s = median of the last 3 (the first
     allocates Adam's state). EPOCHS = 20 epochs per retrain is a convention (MBPO's warm retrain stops
     early and its count varies; 20 is an assumed typical count, not measured from a run)
  rollout: 100,000 starts (torch.randint) from the real buffer, H = 15, stochastic actor, every member
     sampled, one per row by torch.multinomial over the 5 elites of the fit (p = 0.2), d = hopper_done(o')
     on raw obs, every row stored in a preallocated 1e6-row ring, rows with d = 1 dropped
     -> rollout_s = one timed rollout after a warm-up (~1.1M rows each)
  per_s = 1 / (10 / policy_steps_per_s + (EPOCHS model_epoch_s + rollout_s) / 250); per_cpu_s the same
  from CPU times (process_time) of each part.

usage: cd bench && /usr/bin/python3 torch_mbpo.py [--torch-threads 1] [--blas-threads 1] [--seconds 3] [--seed 0]
"""
import os
import statistics
import time

import torch_common as tc  # first: pins threads before torch is imported
import h5py
import numpy as np
import torch
import torch.nn as nn
from torch_ensemble import EnsembleDynamics
import torch_model_based as mb
from torch_rollout import hopper_done
from torch_sac import SAC, sac_flops

O, A, E, ELITES, NREAL, CAP = 11, 3, 7, 5, 100_000, 1_000_000
D = O + 1
EPOCHS, RUN_EPOCHS, BS, H, STARTS, POLICY_STEPS, EVERY = 20, 4, 256, 15, 100_000, 10, 250


def load_real(path):
    with h5py.File(path, "r") as f:
        g = {k: torch.from_numpy(np.asarray(f[k][:NREAL], dtype=np.float32))
             for k in ("observations", "actions", "rewards", "next_observations", "terminals")}
    return {"obs": g["observations"], "act": g["actions"], "rew": g["rewards"].unsqueeze(-1),
            "next_obs": g["next_observations"], "done": g["terminals"].unsqueeze(-1)}


def timed(f):
    c0, t0 = time.process_time(), time.perf_counter()
    out = f()
    return out, time.perf_counter() - t0, time.process_time() - c0


def main():
    args = tc.parse_args(__doc__.splitlines()[0])
    real = load_real(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "hopper", "medium_replay.h5"))
    sac = SAC(O, A, critic_loss="huber")
    model = EnsembleDynamics(O, A, D, E)
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    layer_params = [p for n, p in model.layers.named_parameters()]   # weights and biases [E, ...]

    # ---- model retrain: format
    idx = torch.randperm(NREAL)
    x = torch.cat([real["obs"][idx], real["act"][idx]], -1)
    y = torch.cat([real["next_obs"][idx] - real["obs"][idx], real["rew"][idx]], -1)
    ne = min(int(0.2 * NREAL), 1000)
    perm = torch.randperm(NREAL)
    tx, ty, ex, ey = x[perm[:-ne]], y[perm[:-ne]], x[perm[-ne:]], y[perm[-ne:]]
    model.scaler_mean.data = tx.mean(0)
    model.scaler_var.data = tx.var(0)
    n = tx.shape[0]
    best = [1e6] * E
    snapshot = [p.detach().clone() for p in layer_params]

    def evaluate():
        with torch.no_grad():
            mu, lv = model.stats(ex.unsqueeze(0).expand(E, -1, -1))      # [E, 1000, D]
            mae = (mu - ey).abs().mean((1, 2))
            nll = ((mu - ey) ** 2 * (-lv).exp() * 0.5 + lv * 0.5 + 0.5 * np.log(2 * np.pi)).mean((1, 2))
        return mae.tolist(), nll.tolist()

    def epoch():
        ix = torch.stack([torch.randperm(n) for _ in range(E)])         # [E, n]
        for k in range(n // BS):
            b = ix[:, k * BS:(k + 1) * BS]
            loss = model.loss(tx[b], ty[b])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1000.0)
            opt.step()
            opt.zero_grad()
            loss.item()
        mae, _ = evaluate()
        with torch.no_grad():                                          # improvement bookkeeping
            for e in range(E):
                if (best[e] - mae[e]) / (best[e] + 1e-6) > 0.01:
                    best[e] = mae[e]
                    for s, w in zip(snapshot, layer_params):
                        s[e].copy_(w[e])
        return mae

    ep, ep_cpu = [], []
    for _ in range(RUN_EPOCHS):
        mae, dt, dc = timed(epoch)
        ep.append(dt)
        ep_cpu.append(dc)
    epoch_s, epoch_cpu = statistics.median(ep[1:]), statistics.median(ep_cpu[1:])
    with torch.no_grad():                                              # finish: best members, elites
        for s, w in zip(snapshot, layer_params):
            w.copy_(s)
    probs = torch.zeros(E)
    probs[torch.tensor(np.argsort(mae)[:ELITES])] = 1.0 / ELITES

    # ---- rollouts into the 1e6-row model ring
    buf = mb.ModelBuffer(CAP, O, A)

    @torch.no_grad()
    def rollout():
        o = real["obs"][torch.randint(0, NREAL, (STARTS,))]
        rows = 0
        for _ in range(H):
            a = sac.actor.dist(o).sample()
            yy, _, _ = mb.model_step(model, probs, o, a)             # every member sampled, one per row
            o2 = o + yy[:, :O]
            d = hopper_done(o2)                                        # raw observations
            buf.add(obs=o, act=a, rew=yy[:, O:], next_obs=o2, done=d)
            rows += o.shape[0]
            o = o2[d.squeeze(-1) == 0]
            if o.shape[0] == 0:
                break
        return rows

    rollout()
    nrows, rollout_s, rollout_cpu = timed(rollout)

    # ---- policy: blocks of 10 SAC updates on 128 real + 128 model rows
    def block():
        for _ in range(POLICY_STEPS):
            b = mb.mixed_batch(real, buf, BS)
            sac.update(b["obs"], b["act"], b["rew"], b["next_obs"], b["done"])

    p = tc.measure(block, args.seconds, warmup=5, min_iters=1)

    def amortized(rate, model_s):
        return 1.0 / (1.0 / rate + model_s / EVERY)

    wall, cpu = EPOCHS * epoch_s + rollout_s, EPOCHS * epoch_cpu + rollout_cpu
    m = {"per_s": amortized(p["per_s"], wall), "rates": [amortized(r, wall) for r in p["rates"]],
         "per_cpu_s": amortized(p["per_cpu_s"], cpu)}
    dims = [O + A, 200, 200, 200, 2 * D]
    flop = POLICY_STEPS * sac_flops(O, A, BS) + (
        EPOCHS * (n // BS * E * tc.linear_flops(dims, BS, fwd=1, wgrad=1, igrad=1) + E * tc.linear_flops(dims, ne))
        + nrows * (tc.linear_flops([O, 256, 256, 256, 2 * A], 1) + E * tc.linear_flops(dims, 1))) / EVERY
    tc.emit("mbpo_step", args, m, unit="env steps", gflop=round(flop / 1e9, 4), gflops=round(m["per_s"] * flop / 1e9, 2),
            policy_steps_per_s=round(POLICY_STEPS * p["per_s"], 3), model_epoch_s=round(epoch_s, 4),
            rollout_s=round(rollout_s, 4), model_epochs=EPOCHS, rollout_rows=round(nrows))


if __name__ == "__main__":
    main()
