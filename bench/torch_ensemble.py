"""PyTorch baseline: one training step of the 7-member dynamics ensemble (spec §3.1-3.2), hopper sizes.

in = obs 11 + act 3 = 14, hidden [200,200,200] SiLU, out 2*D with D = obs + 1 = 12 (reward head).
Ensemble linear: weight [E,in,out] (truncated normal, std 1/(2 sqrt(in))), bias [E,out] = 0.
  --layout bmm (default): input [E, B, in], y = bmm(x, W) + b  (one batched matmul per layer)
  --layout einsum:        input [B, E, in], y = einsum('kio,...ki->...ko', W, x) + b (the reference's form)
Step: slice the next 256 rows of a per-member permutation index matrix [N, E] of a random 100k-row
training set (redrawn each "epoch"), gather inputs/targets, input scaler (x - m)/sqrt(v),
lv = minlv + softplus((maxlv - softplus(maxlv - l)) - minlv) with learned [D] bounds,
L = mean (mu - y)^2 e^-lv + mean lv + 0.001 (sum maxlv - sum minlv) + sum_k decay_k/2 ||W_k||^2
(first 4 decays only), backward, clip_grad_norm 1000, Adam lr 3e-4, loss.item().
Reports updates per second.

usage: /usr/bin/python3 bench/torch_ensemble.py [--torch-threads 1] [--blas-threads 1] [--seconds 3] [--seed 0]
                                                 [--layout bmm|einsum]
"""
import math

import torch_common as tc  # first: pins threads before torch is imported
import torch
import torch.nn as nn
import torch.nn.functional as F


class EnsembleLinear(nn.Module):
    def __init__(self, in_dim, out_dim, E, layout):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(E, in_dim, out_dim))
        self.bias = nn.Parameter(torch.zeros(E, out_dim))
        nn.init.trunc_normal_(self.weight, std=1.0 / (2.0 * math.sqrt(in_dim)))  # cut at +-2 (absolute)
        self.layout = layout

    def forward(self, x):
        if self.layout == "bmm":      # x [E, B, in]
            return torch.bmm(x, self.weight) + self.bias.unsqueeze(1)
        return torch.einsum("kio,...ki->...ko", self.weight, x) + self.bias  # x [B, E, in]


class EnsembleDynamics(nn.Module):
    def __init__(self, obs_dim, act_dim, out_dim, E=7, hidden=(200, 200, 200), layout="bmm",
                 min_std=0.04, max_std=1.6, decays=(2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4)):
        super().__init__()
        in_dim = obs_dim + act_dim
        layers, last = [], in_dim
        for h in hidden:
            layers += [EnsembleLinear(last, h, E, layout), nn.SiLU()]
            last = h
        layers.append(EnsembleLinear(last, 2 * out_dim, E, layout))
        self.layers = nn.Sequential(*layers)
        self.scaler_mean = nn.Parameter(torch.zeros(in_dim), requires_grad=False)
        self.scaler_var = nn.Parameter(torch.ones(in_dim), requires_grad=False)
        self.min_lv = nn.Parameter(math.log(min_std ** 2) * torch.ones(out_dim))
        self.max_lv = nn.Parameter(math.log(max_std ** 2) * torch.ones(out_dim))
        self.decays = decays

    def stats(self, x):
        x = (x - self.scaler_mean) / self.scaler_var ** 0.5
        mu, l = torch.chunk(self.layers(x), 2, dim=-1)
        l = self.max_lv - F.softplus(self.max_lv - l)
        lv = self.min_lv + F.softplus(l - self.min_lv)
        return mu, lv

    def loss(self, x, y):
        mu, lv = self.stats(x)
        mse = torch.mean(torch.pow(mu - y, 2) * torch.exp(-lv), dim=-1).mean()
        var = torch.mean(lv, dim=-1).mean()
        clip_lv = 0.001 * (self.max_lv.sum() - self.min_lv.sum())
        decay, i = 0.0, 0
        for name, p in self.layers.named_parameters():  # 4 weight matrices -> decays[0..3]
            if "weight" in name:
                decay = decay + self.decays[i] * torch.sum(p ** 2) / 2.0
                i += 1
        return mse + var + clip_lv + decay


def main():
    def extra(p):
        p.add_argument("--layout", choices=["bmm", "einsum"], default="bmm")
        p.add_argument("--rows", type=int, default=100_000, help="training rows")
        p.add_argument("--members", type=int, default=7)
    args = tc.parse_args(__doc__.splitlines()[0], extra)
    obs_dim, act_dim, E, B, N = 11, 3, args.members, 256, args.rows
    D = obs_dim + 1
    inputs = torch.randn(N, obs_dim + act_dim) * 2.0 + 0.5
    targets = torch.randn(N, D) * 0.3
    model = EnsembleDynamics(obs_dim, act_dim, D, E, layout=args.layout)
    model.scaler_mean.data = inputs.mean(0)
    model.scaler_var.data = inputs.var(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    state = {"idx": None, "pos": N}

    def step():
        if state["pos"] + B > N:  # new epoch: independent permutation per member ("bootstrap")
            state["idx"] = torch.stack([torch.randperm(N) for _ in range(E)], dim=1)  # [N, E]
            state["pos"] = 0
        idx = state["idx"][state["pos"]:state["pos"] + B]  # [B, E]
        state["pos"] += B
        if args.layout == "bmm":
            idx = idx.t()                                   # [E, B]
        x, y = inputs[idx], targets[idx]
        loss = model.loss(x, y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1000.0)
        opt.step()
        opt.zero_grad()
        loss.item()

    m = tc.measure(step, args.seconds)
    dims = [obs_dim + act_dim, 200, 200, 200, 2 * D]
    flop = E * tc.linear_flops(dims, B, fwd=1, wgrad=1, igrad=1)
    name = "ensemble_update" if args.layout == "bmm" else "ensemble_update_einsum"
    tc.emit(name, args, m, gflop=round(flop / 1e9, 4), gflops=round(m["per_s"] * flop / 1e9, 2))


if __name__ == "__main__":
    main()
