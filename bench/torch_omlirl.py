"""PyTorch baseline: one OMLIRL iteration with its amortized rollouts and reward steps (spec §4.7, §7), hopper.

The work of bench/omlirl.lua, written the way the reference runs it:
  policy: blocks of 10 iterations, each a SAC update (alpha 0.1, Q clipped +-1000; torch_sac.SAC) on 128
          transition + 128 model rows with r = R(o, a) - lambda pen (no grad; pen 0 on transition rows),
          the 10th also the reward step (256 expert vs 256 model rows, gradient penalty)
  rollout: 5000 starts (half expert, half transition rows) x 40 steps: a ~ pi, the 7-member model
          (no reward head: D = 11) sampled, penalty over all members, sticky de-normalized hopper
          termination, one lambda step per rollout step (L = mean(e^log_lam sg(lam pen - 1)), Adam 0.01),
          store (o, a, pen, o', d) in the 1e6 ring, continue rows with every |o'| < 30; every 250 iterations
  per_s = 1 / (1 / policy_per_s + rollout_s / 250)
Random-init networks and random normalized data stand in for the trained ones (same sizes).

usage: /usr/bin/python3 bench/torch_omlirl.py [--torch-threads 1] [--blas-threads 1] [--seconds 3]
"""
import torch_common as tc  # first: pins threads before torch is imported
import torch

import torch_model_based as mb
import torch_sac


def main():
    args = tc.parse_args(__doc__.splitlines()[0])
    O, A, E, N, H, EVERY, B = 11, 3, 7, 5000, 40, 250, 256
    mean, std = torch.randn(O) * 0.1 + torch.tensor([1.2] + [0.0] * (O - 1)), torch.rand(O) * 0.5 + 0.1
    trans, expert = mb.offline_data(400_000, O, A), mb.offline_data(10_000, O, A)
    model, probs = mb.make_model(O, A, O, E)
    sac = torch_sac.SAC(O, A, alpha=0.1, q_clip=1000.0)
    R = mb.StateReward(O, A)
    log_lam = torch.nn.Parameter(torch.zeros(1))
    lam_opt = torch.optim.Adam([log_lam], lr=0.01)
    buf = mb.ModelBuffer(1_000_000, O, A)

    def pen_and_lambda(o, a, y, mu, lv):
        pen = mb.penalty(mu, lv)
        with torch.enable_grad():
            lam = log_lam.detach().exp()
            loss = (log_lam.exp() * (lam * pen - 1.0).mean().detach()).sum()
            lam_opt.zero_grad()
            loss.backward()
            lam_opt.step()
        return pen

    def rollout():
        starts = torch.cat([mb.take(expert, N // 2)["obs"], mb.take(trans, N - N // 2)["obs"]], 0)
        return mb.rollout(model, probs, sac.actor, starts, H, buf, mean, std, O, sticky=True, reward=pen_and_lambda)

    rollout()
    k = [0]

    def ten():
        for i in range(10):
            b = mb.mixed_batch(trans, buf, B)
            with torch.no_grad():
                lam = log_lam.exp()
                rew = R(torch.cat([b["obs"], b["act"]], -1)) - b["rew"] * lam
            sac.update(b["obs"], b["act"], rew, b["next_obs"], b["done"])
        e, m = mb.take(expert, B), buf.sample(B)
        R.step(torch.cat([e["obs"], e["act"]], -1), torch.cat([m["obs"], m["act"]], -1))
        k[0] += 1

    m10 = tc.measure(ten, args.seconds, warmup=2)
    pol = 10 * m10["per_s"]
    T = mb.median3(rollout)

    def amortized(p):
        return 1.0 / (1.0 / p + T / EVERY)
    per_s = amortized(pol)
    m = {"per_s": per_s, "rates": [amortized(10 * r) for r in m10["rates"]], "per_cpu_s": amortized(10 * m10["per_cpu_s"])}
    tc.emit("omlirl_iter", args, m, policy_per_s=round(pol, 2), rollout_s=round(T, 4),
            rollout_share=round(T / EVERY * per_s, 4))


if __name__ == "__main__":
    main()
