"""PyTorch baseline: one RECOIL-online update (spec §4.5), hopper sizes.

Batch: 128 expert rows (a random 18k-row set) and 128 replay rows (a random 100k-row buffer with done
flags), torch.randint + indexing. Critic: two MLPs (3 x 256 SiLU, last layer zero-init) on
z(o, a, f) = [(1 - f) [o, a], f], every Q clipped to +-1000, polyak target; tanh-Gaussian actor.
No grad: a~_E ~ pi(o_E), a~_T ~ pi(o_T), a' ~ pi(o') on D = E u T, y = gamma (min Qbar(z(o', a', d)) -
0.1 log pi(a'|o')). IBC = -1/2 sum_i (mean Q_i(z_E) - mean Q_i(z(o_E, a~_E, d_E))), CD likewise against
z(o_T, a~_T, d_T), TD = 1/2 sum_i mean_D (Q_i(z(o, a, 0)) - y)^2, GP = 1/2 sum_i GP(Q_i; x, x, c = 200) on
x = [o_E, a_E, 0; o_T, a~_T, 0] (create_graph, double backward); L_Q = 0.5 (0.1 IBC + 0.9 CD) + 0.5 TD +
10 GP; clip 1000, Adam. Actor: mean(0.1 log pi(a~|o) - min Q(z(o, a~, 0))) on [o_E; o_T], Adam (no clip).
Polyak 0.995. Reports updates per second -- the work of bench/recoil_online.lua.

usage: /usr/bin/python3 bench/torch_recoil_online.py [--torch-threads 1] [--blas-threads 1] [--seconds 3]
"""
import copy

import torch_common as tc  # first: pins threads before torch is imported
import torch
import torch.nn as nn
from torch_gail import grad_penalty


def main():
    args = tc.parse_args(__doc__.splitlines()[0])
    O, A, NE, NT = 11, 3, 18000, 100000
    eo, ea, eo2, ed = torch.randn(NE, O), torch.rand(NE, A) * 1.6 - 0.8, torch.randn(NE, O), torch.zeros(NE, 1)
    to, ta, to2 = torch.randn(NT, O), torch.rand(NT, A) * 1.6 - 0.8, torch.randn(NT, O)
    td = (torch.rand(NT, 1) < 0.001).float()
    actor = tc.TanhNormalActor(O, A)
    q1, q2 = tc.mlp(O + A + 1, (256, 256, 256), 1), tc.mlp(O + A + 1, (256, 256, 256), 1)
    for q in (q1, q2):
        nn.init.zeros_(q[-1].weight)
        nn.init.zeros_(q[-1].bias)
    critic = nn.ModuleList([q1, q2])
    target = tc.freeze(copy.deepcopy(critic))
    aopt = torch.optim.Adam(actor.parameters(), lr=3e-4)
    copt = torch.optim.Adam(critic.parameters(), lr=3e-4)
    alpha, gamma, qmax = 0.1, 0.99, 1000.0

    def z(o, a, f=None):
        if f is None:
            return torch.cat([o, a, torch.zeros(len(o), 1)], -1)
        return torch.cat([torch.cat([o, a], -1) * (1 - f), f], -1)

    def Q(nets, x):
        return [n(x).clamp(-qmax, qmax) for n in nets]

    def half(qs):
        return sum(q.mean() for q in qs) / 2

    def step():
        i, j = torch.randint(0, NE, (128,)), torch.randint(0, NT, (128,))
        o_e, a_e, o2_e, d_e = eo[i], ea[i], eo2[i], ed[i]
        o_t, a_t, o2_t, d_t = to[j], ta[j], to2[j], td[j]
        o, a, o2, d = torch.cat([o_e, o_t]), torch.cat([a_e, a_t]), torch.cat([o2_e, o2_t]), torch.cat([d_e, d_t])
        with torch.no_grad():
            ax_e, ax_t = actor.dist(o_e).sample(), actor.dist(o_t).sample()
            a2, lp2 = tc.sample_actor(actor, o2)
            y = (torch.min(*Q(target, z(o2, a2, d))) - alpha * lp2) * gamma
        q_ee = Q(critic, z(o_e, a_e, d_e))
        ibc = -half([e - p for e, p in zip(q_ee, Q(critic, z(o_e, ax_e, d_e)))])
        cd = -half([e - p for e, p in zip(q_ee, Q(critic, z(o_t, ax_t, d_t)))])
        td_ = half([(q - y) ** 2 for q in Q(critic, z(o, a))])
        x = z(o, torch.cat([a_e, ax_t]))
        gp = (grad_penalty(x, x, q1, 200.0)[0] + grad_penalty(x, x, q2, 200.0)[0]) / 2
        loss = (0.1 * ibc + 0.9 * cd) * 0.5 + 0.5 * td_ + 10 * gp
        copt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(critic.parameters(), 1000.0)
        copt.step()
        ap, lp = tc.sample_actor(actor, o)
        aloss = (alpha * lp - torch.min(*Q(critic, z(o, ap)))).mean()
        aopt.zero_grad()
        aloss.backward(inputs=list(actor.parameters()))
        aopt.step()
        tc.polyak_update(critic, target, 0.995)
        loss.item(), aloss.item()

    m = tc.measure(step, args.seconds)
    tc.emit("recoil_online_update", args, m)


if __name__ == "__main__":
    main()
