"""PyTorch baseline: one model rollout as OMLIRL/MOPO run it (spec §3.4, §4.7, §5.3), hopper sizes.

5000 start states x 40 steps, all under no_grad: a ~ pi(o) (tanh-Gaussian actor, 3 x 256 SiLU), the
7-member ensemble (3 x 200 SiLU, [E, B, in] bmm layout, input scaler, soft-clamped log-variance) on
[o, a]; every member sampled, one member picked per row from the elite distribution (5 of 7); penalty
mean_dims sqrt(mean_e sigma^2 + var_e mu); sticky hopper termination; rows with every |o'| < 30
continue; each step's rows are appended to a preallocated 1e6-row model buffer (ring).
Reports model rows (env steps) per second -- the work of bench/rollout.lua.

usage: /usr/bin/python3 bench/torch_rollout.py [--torch-threads 1] [--blas-threads 1] [--seconds 3]
"""
import torch_common as tc  # first: pins threads before torch is imported
import torch
from torch_ensemble import EnsembleDynamics
import torch_model_based as mb


def hopper_done(o):
    alive = (o.abs() < 100).all(-1) & (o.abs() < 30).all(-1) & (o[:, 0] > 0.7) & (o[:, 1].abs() < 0.2)
    return (~alive).float().unsqueeze(-1)


def main():
    args = tc.parse_args(__doc__.splitlines()[0])
    O, A, E, N, H, CAP = 11, 3, 7, 5000, 40, 1_000_000
    D = O + 1
    actor = tc.TanhNormalActor(O, A)
    model = EnsembleDynamics(O, A, D, E)
    probs = torch.tensor([0.2] * 5 + [0.0] * 2)
    starts = torch.randn(100000, O) * 0.5
    buf = mb.ModelBuffer(CAP, O, A)

    @torch.no_grad()
    def rollout():
        o = starts[torch.randint(0, 100000, (N,))]
        d = torch.zeros(N, 1)
        rows = 0
        for _ in range(H):
            a = actor.dist(o).sample()
            x = torch.cat([o, a], -1)
            mu, lv = model.stats(x.unsqueeze(0).expand(E, -1, -1))        # [E, n, D]
            y_all = mu + (lv * 0.5).exp() * torch.randn_like(mu)
            member = torch.multinomial(probs, o.shape[0], replacement=True)
            y = y_all[member, torch.arange(o.shape[0])]
            pen = (lv.exp().mean(0) + mu.var(0)).sqrt().mean(-1)
            o2 = o + y[:, :O]
            r = y[:, O] - pen
            d = torch.maximum(d, hopper_done(o2))
            buf.add(obs=o, act=a, rew=r.unsqueeze(-1), next_obs=o2, done=d)
            rows += o.shape[0]
            keep = (o2.abs() < 30).all(-1)
            o, d = o2[keep], d[keep]
            if o.shape[0] == 0:
                break
        return rows

    m = tc.measure(rollout, args.seconds, warmup=2, repeats=5, min_iters=1)
    flop = tc.linear_flops([O, 256, 256, 256, 2 * A], 1) + E * tc.linear_flops([O + A, 200, 200, 200, 2 * D], 1)
    tc.emit("model_rollout", args, m, unit="rows", gflop=round(flop / 1e9, 6), gflops=round(m["per_s"] * flop / 1e9, 2))


if __name__ == "__main__":
    main()
