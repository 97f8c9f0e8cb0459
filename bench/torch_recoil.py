"""PyTorch baseline: one offline RECOIL iteration (spec §2.7, §4.4), hopper sizes.

Batch: 128 expert rows and 128 transition rows (torch.randint + indexing) of random sets; the transition
rows carry an absorbing flag f (1 on ~1 % of them) and done d. Critic: a double Q on [o (1 - f), f, a]
(3 x 256 SiLU each) with a polyak target; tanh-Gaussian actor. No grad: a~_T ~ pi(o_T), a' ~ pi(o') on
D = E u T with log-prob, y = (1 - f) gamma (min Qbar([o' (1 - d), d, a']) - 0.1 log pi(a'|o')).
CD = -1/2 sum_i (mean Q_i(x_E, a_E) - mean Q_i(x_T, a~_T)), TD = 1/2 sum_i mean_D (Q_i - y)^2,
QT = 1/2 sum_i mean (Q_i(x_E, a_E) - 200)^2, H = -1/2 sum_i mean min(Q_i(x_T, a~_T), -200);
L_Q = 0.2 CD + 0.8 TD + QT + H (+ 10 GP with --gp: the two-net margin penalty, target 100, create_graph);
clip 1000, Adam. Actor: AWR on [o_E; o_T] with [a_E; a_T noised on half the rows] (clipped to the
batch's min/max), critic input [o, 0, a]; clip 1000, Adam. Polyak 0.995. Reports iterations per second
-- the work of bench/recoil.lua (algorithms/recoil.lua's step).

usage: /usr/bin/python3 bench/torch_recoil.py [--torch-threads 1] [--blas-threads 1] [--seconds 3] [--gp]
"""
import copy

import torch_common as tc  # first: pins threads before torch is imported
import torch
import torch.nn as nn
from torch_gail import grad_penalty


def add_args(p):
    p.add_argument("--gp", action="store_true", help="add the gradient penalty (halfcheetah's setting)")


def main():
    args = tc.parse_args(__doc__.splitlines()[0], add_args)
    O, A, NE, NT = 11, 3, 18000, 300000
    eo, ea, eo2 = torch.randn(NE, O), torch.rand(NE, A) * 1.6 - 0.8, torch.randn(NE, O)
    to, ta, to2 = torch.randn(NT, O), torch.rand(NT, A) * 1.6 - 0.8, torch.randn(NT, O)
    tf = (torch.rand(NT, 1) < 0.01).float()
    td = (torch.rand(NT, 1) < 0.001).float()
    actor = tc.TanhNormalActor(O, A)
    critic = tc.DoubleQ(O + 1, A)
    target = tc.freeze(copy.deepcopy(critic))
    aopt = torch.optim.Adam(actor.parameters(), lr=3e-4)
    copt = torch.optim.Adam(critic.parameters(), lr=3e-4)
    alpha, gamma, tdw, qe_target = 0.1, 0.99, 0.8, 200.0

    def x(o, f):
        return torch.cat([o * (1 - f), f], -1)

    def half(qs):
        return sum(q.mean() for q in qs) / 2

    def step():
        i, j = torch.randint(0, NE, (128,)), torch.randint(0, NT, (128,))
        o_e, a_e, o2_e = eo[i], ea[i], eo2[i]
        o_t, a_t, o2_t, f_t, d_t = to[j], ta[j], to2[j], tf[j], td[j]
        z = torch.zeros(128, 1)
        o, a, o2 = torch.cat([o_e, o_t]), torch.cat([a_e, a_t]), torch.cat([o2_e, o2_t])
        f, d = torch.cat([z, f_t]), torch.cat([z, d_t])
        with torch.no_grad():
            a_pi = actor.dist(o_t).sample()
            a2, lp2 = tc.sample_actor(actor, o2)
            y = (torch.min(*target(x(o2, d), a2)) - alpha * lp2) * (1 - f) * gamma
        qe, qt, qd = critic(x(o_e, z), a_e), critic(x(o_t, f_t), a_pi), critic(x(o, f), a)
        cd = -half([e - t for e, t in zip(qe, qt)])
        td_ = half([(q - y) ** 2 for q in qd])
        qt_ = half([(e - qe_target) ** 2 for e in qe])
        h = -half([t.clamp(max=-qe_target) for t in qt])
        loss = cd * (1 - tdw) + td_ * tdw + qt_ + h
        if args.gp:
            xr, xf = torch.cat([o_e, z, a_e], -1), torch.cat([o_t, z, a_pi], -1)
            gp = (grad_penalty(xr, xf, critic.q1, 100.0)[0] + grad_penalty(xr, xf, critic.q2, 100.0)[0]) / 2
            loss = loss + 10 * gp
        copt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(critic.parameters(), 1000.0)
        copt.step()
        with torch.no_grad():  # AWR with action noise on half of T's rows
            half_rows = torch.randperm(128)[:64]
            noisy_t = a_t.clone()
            noisy_t[half_rows] = (a_t[half_rows] + 0.1 * torch.randn(64, A)).clip(a_t.min(), a_t.max())
            a_bar = torch.cat([a_e, noisy_t])
            zz = torch.zeros(256, 1)
            a_hat = actor.dist(o).sample()
            adv = torch.min(*critic(torch.cat([o, zz], -1), a_bar)) - torch.min(*critic(torch.cat([o, zz], -1), a_hat))
            w = torch.exp(adv / alpha).clip(max=100.0)
        logp, _ = tc.action_log_prob(actor, o, a_bar, sample=False)
        aloss = -(w * logp).mean()
        aopt.zero_grad()
        aloss.backward()
        nn.utils.clip_grad_norm_(actor.parameters(), 1000.0)
        aopt.step()
        tc.polyak_update(critic, target, 0.995)
        loss.item(), aloss.item()

    m = tc.measure(step, args.seconds)
    tc.emit("recoil_iter_gp" if args.gp else "recoil_iter", args, m)


if __name__ == "__main__":
    main()
