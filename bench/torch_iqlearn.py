"""PyTorch baseline: one offline IQ-Learn iteration (spec §2.7, §4.3), hopper sizes.

Batch: 256 rows of a 18k-row random expert set (torch.randint + indexing). Double Q on [o, a] (3 x 256
SiLU each) with a polyak target; tanh-Gaussian actor. Critic: no grad a~ ~ pi(o), a' ~ pi(o') with log-prob,
y = gamma (min Qbar(o', a') - 0.1 log pi(a'|o')); CD = 1/2 sum_i -(mean Q_i(o, a_E) - mean Q_i(o, a~)),
TD = 1/2 sum_i mean (Q_i(o, a_E) - y)^2, GP = 1/2 sum_i GP(Q_i; [o, a_E], [o, a~], c = 1) (own beta per net,
create_graph, double backward); L_Q = 0.5 CD + 0.5 TD + 10 GP; clip 1000, Adam. Actor: AWR (§2.7) with
noise 0.1 on a random half of the expert actions (clipped to the batch's global min/max), a^ ~ pi(o),
A = minQ(o, a~) - minQ(o, a^), w = min(exp(A / 0.1), 100), L = -mean(w log pi(a~|o)); clip 1000, Adam.
Polyak 0.995. Reports iterations per second -- the work of bench/iqlearn.lua (algorithms/iqlearn.lua's step).

usage: /usr/bin/python3 bench/torch_iqlearn.py [--torch-threads 1] [--blas-threads 1] [--seconds 3]
"""
import copy

import torch_common as tc  # first: pins threads before torch is imported
import torch
import torch.nn as nn
from torch_gail import grad_penalty


def main():
    args = tc.parse_args(__doc__.splitlines()[0])
    O, A, B, N = 11, 3, 256, 18000
    obs, act, nobs = torch.randn(N, O), torch.rand(N, A) * 1.6 - 0.8, torch.randn(N, O)
    actor = tc.TanhNormalActor(O, A)
    critic = tc.DoubleQ(O, A)
    target = tc.freeze(copy.deepcopy(critic))
    aopt = torch.optim.Adam(actor.parameters(), lr=3e-4)
    copt = torch.optim.Adam(critic.parameters(), lr=3e-4)
    alpha, gamma = 0.1, 0.99

    def step():
        i = torch.randint(0, N, (B,))
        o, a, o2 = obs[i], act[i], nobs[i]
        with torch.no_grad():
            a_pi = actor.dist(o).sample()
            a2, lp2 = tc.sample_actor(actor, o2)
            y = gamma * (torch.min(*target(o2, a2)) - alpha * lp2)
        qe, qp = critic(o, a), critic(o, a_pi)
        cd = sum(-(e.mean() - p.mean()) for e, p in zip(qe, qp)) / 2
        td = sum(((e - y) ** 2).mean() for e in qe) / 2
        xr, xf = torch.cat([o, a], -1), torch.cat([o, a_pi], -1)
        gp = (grad_penalty(xr, xf, critic.q1, 1.0)[0] + grad_penalty(xr, xf, critic.q2, 1.0)[0]) / 2
        loss = 0.5 * cd + 0.5 * td + 10 * gp
        copt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(critic.parameters(), 1000.0)
        copt.step()
        with torch.no_grad():  # AWR with action noise
            half = torch.randperm(B)[: B // 2]
            noisy = a.clone()
            noisy[half] = (a[half] + 0.1 * torch.randn(B // 2, A)).clip(a.min(), a.max())
            a_hat = actor.dist(o).sample()
            adv = torch.min(*critic(o, noisy)) - torch.min(*critic(o, a_hat))
            w = torch.exp(adv / alpha).clip(max=100.0)
        logp, _ = tc.action_log_prob(actor, o, noisy, sample=False)
        aloss = -(w * logp).mean()
        aopt.zero_grad()
        aloss.backward()
        nn.utils.clip_grad_norm_(actor.parameters(), 1000.0)
        aopt.step()
        tc.polyak_update(critic, target, 0.995)
        loss.item(), aloss.item()

    m = tc.measure(step, args.seconds)
    tc.emit("iqlearn_iter", args, m)


if __name__ == "__main__":
    main()
