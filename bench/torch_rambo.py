"""PyTorch baseline: one RAMBO iteration with its amortized rollouts and adversarial steps (spec §3.6, §5.4), hopper.

The work of bench/rambo.lua, written the way the reference runs it:
  sac: one SAC update (Huber critic, alpha 1; torch_sac.SAC) on 128 offline + 128 model rows
  rollout: 5000 offline starts x 40 steps, a ~ pi, the 5 elites with the reward head sampled, stored r^,
           d = term(o') (not sticky), continue the rows with every |o'| < 30; every 250 iterations
  adversarial: 1000 steps every 1000 iterations = one step per iteration, its rate from
           torch_adversarial.adversarial_update(--rambo) timed with S = 100
  per_s = 1 / (1 / sac_per_s + rollout_s / 250 + 1 / adv_per_s)
The reference's RAMBO also evaluates extra model likelihoods for its logs; they are not counted here.
Random-init networks and random normalized data stand in for the trained ones (same sizes).

usage: /usr/bin/python3 bench/torch_rambo.py [--torch-threads 1] [--blas-threads 1] [--seconds 3]
"""

import torch_common as tc  # first: pins threads before torch is imported

import torch_adversarial
import torch_model_based as mb


def main():
    args = tc.parse_args(__doc__.splitlines()[0])
    N, H, EVERY, B, S = 5000, 40, 250, 256, 100
    P = torch_adversarial.setup(rambo=True)
    O, sac, model, probs = P["O"], P["sac"], P["model"], P["probs"]
    buf = mb.ModelBuffer(1_000_000, O, P["A"])

    def rollout():
        return mb.rollout(model, probs, sac.actor, mb.take(P["trans"], N)["obs"], H, buf, P["mean"], P["std"], O,
                          sticky=False)

    rollout()

    def sac_step():
        b = mb.mixed_batch(P["trans"], buf, B)
        sac.update(b["obs"], b["act"], b["rew"], b["next_obs"], b["done"])

    ms = tc.measure(sac_step, args.seconds)
    T = mb.median3(rollout)
    adv = S / mb.median3(lambda: torch_adversarial.adversarial_update(P, S))

    def amortized(p):
        return 1.0 / (1.0 / p + T / EVERY + 1.0 / adv)
    m = {"per_s": amortized(ms["per_s"]), "rates": [amortized(r) for r in ms["rates"]],
         "per_cpu_s": amortized(ms["per_cpu_s"])}
    tc.emit("rambo_iter", args, m, sac_per_s=round(ms["per_s"], 2), rollout_s=round(T, 4), adv_per_s=round(adv, 2))


if __name__ == "__main__":
    main()
