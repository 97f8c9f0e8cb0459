"""PyTorch baseline: one full SAC update (spec §2.4), hopper sizes (obs 11, act 3), batch 256.

Plain eager PyTorch, written the way the reference runs it:
  sample 256 rows (torch.randint + indexing) from a 100k-row random in-memory buffer
  (o, a, r, o', d);
  1. critic: a' ~ pi(o') and Q-bar under no_grad, y = r + g(1-d)(min Q-bar(o',a') - alpha log pi(a'|o')),
     L_Q = (MSE(Q1,y) + MSE(Q2,y))/2, clip_grad_norm 1000, Adam (critic);
  2. actor: a~ ~ pi(o) reparameterized, L_pi = mean(alpha log pi - min Q(o,a~)) through the just-updated
     critic (critic weight grads are computed and discarded, as in the reference), clip 1000, Adam (actor);
  3. alpha: L_a = -mean(exp(log a) * sg(log pi + H)), H = -act_dim, Adam on log alpha (lr_actor);
  4. polyak 0.995 on the critic targets; alpha <- exp(log alpha) for the next update.
Hidden [256,256,256] SiLU everywhere, Adam lr 3e-4, gamma 0.99, alpha init 1.0.
Reports updates per second; the analytic FLOP count of one update as PyTorch runs it is printed too.

usage: /usr/bin/python3 bench/torch_sac.py [--torch-threads 1] [--blas-threads 1] [--seconds 3] [--seed 0]
"""
import copy
import math

import torch_common as tc  # first: pins threads before torch is imported
import torch
import torch.nn as nn
import torch.nn.functional as F


class SAC:
    """SAC learner state + update (spec §2.4); shared with torch_gail.py."""

    def __init__(self, obs_dim, act_dim, hidden=(256, 256, 256), lr=3e-4, gamma=0.99, polyak=0.995,
                 alpha=1.0, grad_clip=1000.0, q_clip=None, critic_loss="mse"):
        self.actor = tc.TanhNormalActor(obs_dim, act_dim, hidden)
        self.critic = tc.DoubleQ(obs_dim, act_dim, hidden)
        self.critic_target = tc.freeze(copy.deepcopy(self.critic))
        self.log_alpha = nn.Parameter(math.log(alpha) * torch.ones(1))
        self.alpha = self.log_alpha.detach().exp()
        self.alpha_target = -float(act_dim)
        self.gamma, self.polyak, self.grad_clip = gamma, polyak, grad_clip
        self.q_clip, self.critic_loss = q_clip, critic_loss   # omlirl/rmirl clip Q at +-1000; mbpo/rambo: Huber
        self.opt_actor = torch.optim.Adam(self.actor.parameters(), lr=lr)
        self.opt_critic = torch.optim.Adam(self.critic.parameters(), lr=lr)
        self.opt_alpha = torch.optim.Adam([self.log_alpha], lr=lr)

    def update(self, obs, act, rwd, next_obs, done):
        alpha = self.alpha
        # 1. critic
        with torch.no_grad():
            next_act, next_logp = tc.sample_actor(self.actor, next_obs)
            q1n, q2n = self.critic_target(next_obs, next_act)
            qn = torch.min(q1n, q2n)
            if self.q_clip is not None:
                qn = qn.clip(-self.q_clip, self.q_clip)
            v_next = qn - alpha * next_logp
            q_target = rwd + (1.0 - done) * self.gamma * v_next
        self.opt_critic.zero_grad()
        q1, q2 = self.critic(obs, act)
        if self.q_clip is not None:
            q1, q2 = q1.clip(-self.q_clip, self.q_clip), q2.clip(-self.q_clip, self.q_clip)
        if self.critic_loss == "huber":
            q_loss = (F.smooth_l1_loss(q1, q_target) + F.smooth_l1_loss(q2, q_target)) / 2
        else:
            q_loss = (torch.pow(q1 - q_target, 2).mean() + torch.pow(q2 - q_target, 2).mean()) / 2
        q_loss.backward()
        nn.utils.clip_grad_norm_(self.critic.parameters(), self.grad_clip)
        self.opt_critic.step()
        # 2. actor (through the just-updated critic; only actor params are stepped)
        self.opt_actor.zero_grad()
        new_act, logp = tc.sample_actor(self.actor, obs)
        q1p, q2p = self.critic(obs, new_act)
        actor_loss = torch.mean(alpha * logp - torch.min(q1p, q2p))
        actor_loss.backward()
        nn.utils.clip_grad_norm_(self.actor.parameters(), self.grad_clip)
        self.opt_actor.step()
        # 3. temperature, same samples as step 2
        self.opt_alpha.zero_grad()
        alpha_loss = -torch.mean(self.log_alpha.exp() * (logp.detach() + self.alpha_target))
        alpha_loss.backward()
        self.opt_alpha.step()
        # 4. targets, refresh alpha
        tc.polyak_update(self.critic, self.critic_target, self.polyak)
        self.alpha = self.log_alpha.detach().exp()
        # the reference turns every logged scalar into a host number each update
        return q_loss.item(), actor_loss.item(), alpha_loss.item(), self.alpha.item()


def sac_flops(obs_dim, act_dim, B, hidden=(256, 256, 256)):
    """FLOPs of SAC.update as PyTorch runs it (critic weight grads in the actor step included)."""
    A = [obs_dim, *hidden, 2 * act_dim]
    Q = [obs_dim + act_dim, *hidden, 1]
    f = tc.linear_flops(A, B)                                   # pi(o') no grad
    f += 2 * tc.linear_flops(Q, B)                              # Q-bar x2
    f += 2 * tc.linear_flops(Q, B, fwd=1, wgrad=1, igrad=1)     # Q x2 fwd+bwd (input needs no grad)
    f += tc.linear_flops(A, B, fwd=1, wgrad=1, igrad=1)         # pi(o) fwd+bwd
    f += 2 * tc.linear_flops(Q, B, fwd=1, wgrad=1, igrad=1, igrad_first=True)  # Q(o, a~) fwd+bwd into a~
    return f


def random_buffer(n, obs_dim, act_dim, term_frac=0.01):
    return {
        "obs": torch.randn(n, obs_dim),
        "act": torch.rand(n, act_dim) * 2 - 1,
        "rwd": torch.randn(n, 1),
        "next_obs": torch.randn(n, obs_dim),
        "done": (torch.rand(n, 1) < term_frac).float(),
    }


def sample(buf, n, B):
    idx = torch.randint(0, n, (B,))
    return buf["obs"][idx], buf["act"][idx], buf["rwd"][idx], buf["next_obs"][idx], buf["done"][idx]


def main():
    def extra(p):
        p.add_argument("--buffer-rows", type=int, default=100_000)
    args = tc.parse_args(__doc__.splitlines()[0], extra)
    obs_dim, act_dim, B = 11, 3, 256
    buf = random_buffer(args.buffer_rows, obs_dim, act_dim)
    sac = SAC(obs_dim, act_dim)

    def step():
        sac.update(*sample(buf, args.buffer_rows, B))

    m = tc.measure(step, args.seconds)
    flop = sac_flops(obs_dim, act_dim, B)
    tc.emit("sac_update", args, m, gflop=round(flop / 1e9, 4), gflops=round(m["per_s"] * flop / 1e9, 2))


if __name__ == "__main__":
    main()
