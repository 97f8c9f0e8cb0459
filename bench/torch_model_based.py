"""Shared pieces of the model-based PyTorch baselines (torch_omlirl.py, torch_adversarial.py, torch_rambo.py),
hopper sizes, written the way the reference runs them (eager, one op per line of its code):

  - ModelBuffer: a preallocated 1e6-row ring (o, a, r, o', d), appended with index assignment
  - hopper_term(): hopper's termination on de-normalized observations (o * std + mean)
  - model_step(): every member sampled, one member per row picked with torch.multinomial (elite weights)
  - penalty(): mean over dims of sqrt(mean_e sigma^2 + var_e mu) over all members
  - mixture_log_prob(): logsumexp_e( sum_dims log N(y; mu_e, sigma_e) + ln(p_e + 1e-6) )
  - rollout(): N starts x H steps as OMLIRL/RMIRL/RAMBO run them ("bounded" continuation)
  - StateReward: R(o, a) -> 1 (no done input), clipped +-10, and its step with the gradient penalty
  - offline_data(): random normalized observations standing in for the transition and expert rows
"""
import math

import torch
import torch.nn as nn

import torch_common as tc
from torch_ensemble import EnsembleDynamics
from torch_gail import grad_penalty

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class ModelBuffer:
    def __init__(self, cap, O, A):
        self.cap, self.pos, self.size = cap, 0, 0
        self.cols = {k: torch.zeros(cap, w) for k, w in (("obs", O), ("act", A), ("rew", 1), ("next_obs", O), ("done", 1))}

    def add(self, **cols):
        n = cols["obs"].shape[0]
        idx = (torch.arange(n) + self.pos) % self.cap
        for k, v in cols.items():
            self.cols[k][idx] = v
        self.pos = (self.pos + n) % self.cap
        self.size = min(self.size + n, self.cap)

    def sample(self, n):
        idx = torch.randint(0, self.size, (n,))
        return {k: v[idx] for k, v in self.cols.items()}


def hopper_term(o, mean, std):
    x = o * std + mean
    alive = (x.abs() < 100).all(-1) & (x[:, 0] > 0.7) & (x[:, 1].abs() < 0.2)
    return (~alive).float().unsqueeze(-1)


def make_model(O, A, D, E):
    """An ensemble of E members (D outputs) with elite weights p_e = 1/E (the 5 elites kept, or all 7)."""
    model = EnsembleDynamics(O, A, D, E)
    return model, torch.full((E,), 1.0 / E)


def model_step(model, probs, o, a):
    mu, lv = model.stats(torch.cat([o, a], -1).unsqueeze(0).expand(len(probs), -1, -1))   # [E, B, D]
    y_all = mu + (lv * 0.5).exp() * torch.randn_like(mu)
    member = torch.multinomial(probs, o.shape[0], replacement=True)
    y = y_all[member, torch.arange(o.shape[0])]
    return y, mu, lv


def penalty(mu, lv):
    return (lv.exp().mean(0) + mu.var(0)).sqrt().mean(-1)


def mixture_log_prob(model, probs, o, a, y):
    mu, lv = model.stats(torch.cat([o, a], -1).unsqueeze(0).expand(len(probs), -1, -1))
    lp = (-0.5 * (mu - y).pow(2) * (-lv).exp() - 0.5 * lv - HALF_LOG_2PI).sum(-1)      # [E, B]
    return torch.logsumexp(lp + torch.log(probs + 1e-6).unsqueeze(-1), 0)


@torch.no_grad()
def rollout(model, probs, actor, starts, H, buf, mean, std, O, sticky=True, reward=None, deterministic=False):
    """Continue the rows with every |o'| < 30 (terminated ones too); reward(o, a, y, mu, lv) -> stored [n]."""
    o, d = starts, torch.zeros(len(starts), 1)
    rows = 0
    for _ in range(H):
        dist = actor.dist(o)
        a = actor.tanh(actor.stats(o)[0]) if deterministic else dist.sample()
        y, mu, lv = model_step(model, probs, o, a)
        o2 = o + y[:, :O]
        dn = hopper_term(o2, mean, std)
        d = torch.maximum(d, dn) if sticky else dn
        r = reward(o, a, y, mu, lv) if reward is not None else (y[:, O] if y.shape[1] > O else torch.zeros(len(o)))
        buf.add(obs=o, act=a, rew=r.unsqueeze(-1), next_obs=o2, done=d)
        rows += len(o)
        keep = (o2.abs() < 30).all(-1)
        o, d = o2[keep], d[keep]
        if len(o) == 0:
            break
    return rows


class StateReward:
    """R(o, a) = clip(MLP([o, a]), +-10) and L_R = -(mean R(x_E) - mean R(x_m)) + 10 GP + 1e-5 l2(R)."""

    def __init__(self, O, A, lr=3e-4):
        self.net = tc.mlp(O + A, (256, 256, 256), 1)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr)

    def __call__(self, x):
        return self.net(x).clip(-10.0, 10.0)

    def step(self, xe, xm):
        self.opt.zero_grad()
        adv = -(self(xe).mean() - self(xm).mean())
        gp, n = grad_penalty(xe, xm, self, 1.0)
        l2 = tc.l2(self.net)
        loss = adv + 10.0 * gp + 1e-5 * l2
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), 1000.0)
        self.opt.step()
        return adv.item(), loss.item(), gp.item(), n.mean().item(), l2.item()


def offline_data(n, O, A, with_reward=False):
    """Rows of normalized observations (o' = o + small step) so that the model sees in-range inputs."""
    o = torch.randn(n, O) * 0.5
    return {"obs": o, "act": torch.rand(n, A) * 2 - 1, "rew": torch.randn(n, 1) if with_reward else torch.zeros(n, 1),
            "next_obs": o + 0.05 * torch.randn(n, O), "done": torch.zeros(n, 1)}


def take(data, n):
    idx = torch.randint(0, len(data["obs"]), (n,))
    return {k: v[idx] for k, v in data.items()}


def mixed_batch(data, buf, B, real_ratio=0.5):
    h = int(B * real_ratio)
    a, b = take(data, h), buf.sample(B - h)
    return {k: torch.cat([a[k], b[k]], 0) for k in ("obs", "act", "rew", "next_obs", "done")}


def median3(f):
    """One warm-up, then the median of 3 timed calls (seconds)."""
    import time
    f()
    ts = []
    for _ in range(3):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return sorted(ts)[1]
