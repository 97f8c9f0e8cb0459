"""PyTorch baseline: one adversarial model step (spec §3.6, §4.8, §5.4), hopper, S = 100 steps timed whole.

The work of bench/adversarial.lua, written the way the reference runs it. RMIRL (default): the 5 elites
without a reward head (D = 11); per update 30,720 SL rows sampled with replacement from the transition
rows (targets o' - o), a random split (1,000 eval rows), the input scaler refit on the train rows; then S
steps of: a fresh per-member permutation when the SL rows run out; a 256-row rollout batch (redrawn every
40 steps from half expert / half transition starts) -> a ~ pi (no grad) -> model step (sampled member per
row) -> sticky de-normalized termination -> advantage A = R(o, a) + (1 - d) gamma (clip(min Q(o', a'),
+-1000) - alpha log pi(a'|o')) - clip(min Q(o, a), +-1000), a' ~ pi(o'), normalized and clipped at +-10 ->
L = 0.05 mean(A log p(y | o, a)) / (O + 1) + L_SL(256 rows per member) -> clip_grad_norm 1000, Adam 1e-4;
the reference's logged scalars (.item()) each step; rows with every |o'| < 30 continue, the rest refilled.
The held-out MAE at the end. --rambo: the 5 elites with the reward head (D = 12), targets [o' - o, r],
deterministic actions, no sticky termination, A = r^ + (1 - d) gamma min Q(o', a') - min Q(o, a) (no clip,
no entropy), L_adv weight 0.1, starts from the offline rows. per_s = S / seconds (median of 3, one warm-up).
Random-init networks and random normalized data stand in for the trained ones (same sizes).

usage: /usr/bin/python3 bench/torch_adversarial.py [--torch-threads 1] [--blas-threads 1] [--seconds 3] [--rambo]
"""
import time

import torch_common as tc  # first: pins threads before torch is imported
import torch
import torch.nn as nn

import torch_model_based as mb
import torch_sac


def setup(rambo):
    O, A = 11, 3
    D = O + 1 if rambo else O
    mean, std = torch.randn(O) * 0.1 + torch.tensor([1.2] + [0.0] * (O - 1)), torch.rand(O) * 0.5 + 0.1
    model, probs = mb.make_model(O, A, D, 5)
    sac = torch_sac.SAC(O, A, alpha=1.0 if rambo else 0.1, q_clip=None if rambo else 1000.0,
                        critic_loss="huber" if rambo else "mse")
    return {"O": O, "A": A, "D": D, "mean": mean, "std": std, "model": model, "probs": probs, "sac": sac,
            "R": None if rambo else mb.StateReward(O, A), "rambo": rambo,
            "trans": mb.offline_data(400_000, O, A, with_reward=rambo), "expert": mb.offline_data(10_000, O, A),
            "opt": torch.optim.Adam(model.parameters(), lr=1e-4)}


def adversarial_update(P, S=100, B=256, rollout_steps=40):
    O, model, probs, sac, rambo = P["O"], P["model"], P["probs"], P["sac"], P["rambo"]
    E = len(probs)
    b = mb.take(P["trans"], min(int(256 * S * 1.2), len(P["trans"]["obs"])))
    x = torch.cat([b["obs"], b["act"]], -1)
    y = torch.cat([b["next_obs"] - b["obs"], b["rew"]], -1) if rambo else b["next_obs"] - b["obs"]
    perm = torch.randperm(len(x))
    ne = min(int(0.2 * len(x)), 1000)
    tx, ty, ex, ey = x[perm[:-ne]], y[perm[:-ne]], x[perm[-ne:]], y[perm[-ne:]]
    model.scaler_mean.data, model.scaler_var.data = tx.mean(0), tx.var(0)
    n, pos, idx = len(tx), len(tx), None
    cur, dcur = torch.zeros(B, O), torch.zeros(B, 1)
    stats = {}

    def starts(k):
        if rambo:
            return mb.take(P["trans"], k)["obs"]
        return torch.cat([mb.take(P["expert"], k // 2)["obs"], mb.take(P["trans"], k - k // 2)["obs"]], 0)

    def add(key, v):
        stats[key] = stats.get(key, 0.0) + v / S

    for k in range(S):
        if k % rollout_steps == 0:
            cur[:], dcur[:] = starts(B), 0.0
        if pos + B > n:
            idx, pos = torch.stack([torch.randperm(n) for _ in range(E)], 0), 0
        bi = idx[:, pos:pos + B]
        pos += B
        o, d0 = cur.clone(), dcur.clone()
        with torch.no_grad():
            a = sac.actor.tanh(sac.actor.stats(o)[0]) if rambo else sac.actor.dist(o).sample()
            yt, _, _ = mb.model_step(model, probs, o, a)
            o2 = o + yt[:, :O]
            d = mb.hopper_term(o2, P["mean"], P["std"])
            if not rambo:
                d = torch.maximum(d, d0)
            if rambo:
                a2 = sac.actor.dist(o2).sample()
                v2 = torch.min(*sac.critic(o2, a2))
                adv = yt[:, O:O + 1] + (1 - d) * 0.99 * v2 - torch.min(*sac.critic(o, a))
            else:
                a2, lp2 = tc.sample_actor(sac.actor, o2)
                v2 = torch.min(*sac.critic(o2, a2)).clip(-1000, 1000) - sac.alpha * lp2
                adv = P["R"](torch.cat([o, a], -1)) + (1 - d) * 0.99 * v2 - torch.min(*sac.critic(o, a)).clip(-1000, 1000)
            adv = adv.squeeze(-1)
            am, asd = adv.mean(), adv.std()
            add("adv_mean", am.item()); add("adv_std", asd.item()); add("v_next", v2.mean().item())
            adv = ((adv - am) / (asd + 1e-6)).clip(-10, 10)
        logp = mb.mixture_log_prob(model, probs, o, a, yt)
        l_adv = (adv * logp).mean() / (O + 1)
        l_sl = model.loss(tx[bi], ty[bi])
        loss = (0.1 if rambo else 0.05) * l_adv + l_sl
        P["opt"].zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1000.0)
        P["opt"].step()
        add("adv_loss", l_adv.item()); add("sl_loss", l_sl.item())
        add("logp_mean", logp.detach().mean().item()); add("logp_std", logp.detach().std().item())
        keep = (o2.abs() < 30).all(-1)
        m = int(keep.sum())
        cur[:m], dcur[:m] = o2[keep], d[keep]
        if m < B:
            cur[m:], dcur[m:] = starts(B - m), 0.0
    with torch.no_grad():
        mu, _ = model.stats(ex.unsqueeze(0).expand(E, -1, -1))
        stats["mae"] = (mu - ey).abs().mean().item()
    return stats


def main():
    def extra(p):
        p.add_argument("--rambo", action="store_true", help="RAMBO's update (reward head, deterministic actions)")
    args = tc.parse_args(__doc__.splitlines()[0], extra)
    S = 100
    P = setup(args.rambo)
    adversarial_update(P, S)                                     # warm-up
    rates, cpu = [], []
    for _ in range(3):
        c0, t0 = time.process_time(), time.perf_counter()
        adversarial_update(P, S)
        rates.append(S / (time.perf_counter() - t0))
        cpu.append(S / max(time.process_time() - c0, 1e-9))
    m = {"per_s": sorted(rates)[1], "rates": rates, "per_cpu_s": sorted(cpu)[1]}
    tc.emit("adv_model_step_rambo" if args.rambo else "adv_model_step", args, m, unit="steps")


if __name__ == "__main__":
    main()
