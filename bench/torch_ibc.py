"""PyTorch baseline: one IBC iteration (spec §2.6, §4.2), hopper sizes.

Batches: two of 256 rows from a 18k-row random expert set. Actor step: a~ ~ pi(o) reparameterized,
L = mean(alpha log pi - R(o, a~)), clip 1000, Adam; alpha tuned (L_alpha = -mean(exp(log alpha)(log pi - 3))).
Energy R(o, a): MLP 14 -> 3 x 256 SiLU -> 1, clipped +-100. Energy step: candidates per row a_E, one actor
sample (no grad), 3 uniform actions in the batch's per-dimension range; InfoNCE -mean(R_E - logsumexp_5 R)
on the 1280 rows, + 10 GP(R; [o, a_E] x 4, [actor rows; random rows], c = 1) on 1024 rows (create_graph,
double backward); clip 1000, Adam. Reports iterations per second -- the work of bench/ibc.lua
(algorithms/ibc.lua's step).

usage: /usr/bin/python3 bench/torch_ibc.py [--torch-threads 1] [--blas-threads 1] [--seconds 3]
"""
import math

import torch_common as tc  # first: pins threads before torch is imported
import torch
import torch.nn as nn
from torch_gail import grad_penalty


def main():
    args = tc.parse_args(__doc__.splitlines()[0])
    O, A, B, N, K = 11, 3, 256, 18000, 5
    obs, act = torch.randn(N, O), torch.rand(N, A) * 1.6 - 0.8
    actor = tc.TanhNormalActor(O, A)
    energy_net = tc.mlp(O + A, (256, 256, 256), 1)

    def energy(x):
        return energy_net(x).clip(-100.0, 100.0)

    log_alpha = torch.tensor([math.log(0.2)], requires_grad=True)
    aopt = torch.optim.Adam(actor.parameters(), lr=3e-4)
    eopt = torch.optim.Adam(energy_net.parameters(), lr=3e-4)
    lopt = torch.optim.Adam([log_alpha], lr=3e-4)

    def step():
        i = torch.randint(0, N, (B,))
        o = obs[i]
        a, logp = tc.sample_actor(actor, o)
        alpha = log_alpha.exp().item()
        aloss = (alpha * logp - energy(torch.cat([o, a], -1))).mean()
        aopt.zero_grad()
        aloss.backward()
        nn.utils.clip_grad_norm_(actor.parameters(), 1000.0)
        aopt.step()
        lloss = -(log_alpha.exp() * (logp.detach() - A)).mean()
        lopt.zero_grad()
        lloss.backward()
        lopt.step()
        j = torch.randint(0, N, (B,))
        o, ae = obs[j], act[j]
        with torch.no_grad():
            lo, hi = ae.min(0).values, ae.max(0).values
            cands = [ae, actor.dist(o).sample()] + [lo + (hi - lo) * torch.rand(B, A) for _ in range(K - 2)]
        acts = torch.stack(cands)                               # [K, B, A]
        x = torch.cat([o.expand(K, B, O), acts], -1).reshape(K * B, O + A)
        logits = energy(x).reshape(K, B)
        nce = -(logits[0] - torch.logsumexp(logits, 0)).mean()
        xr = torch.cat([o.expand(K - 1, B, O), ae.expand(K - 1, B, A)], -1).reshape((K - 1) * B, O + A)
        gp = grad_penalty(xr, x[B:], energy, 1.0)[0]
        eloss = nce + 10 * gp
        eopt.zero_grad()
        eloss.backward()
        nn.utils.clip_grad_norm_(energy_net.parameters(), 1000.0)
        eopt.step()
        aloss.item(), eloss.item()

    m = tc.measure(step, args.seconds)
    tc.emit("ibc_iter", args, m)


if __name__ == "__main__":
    main()
