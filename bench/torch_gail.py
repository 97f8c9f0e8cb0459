"""PyTorch baseline: GAIL's reward (discriminator) update with gradient penalty (spec §2.6, §4.6), hopper.

Reward R: MLP [(1-d)*[o,a], d] (11+3+1 = 15) -> [256,256,256] SiLU -> 1, output clipped to +-10.
Batch: 256 expert rows (10k-row random expert buffer) + 256 policy rows (100k-row random replay buffer),
sampled with torch.randint + indexing (timed).
L_R = -(mean R(x_E) - mean R(x_pi)) + 10 * GP(R; x_E, x_pi, c=1) + 1e-5 * l2(R)
GP: per-row beta ~ U(0,1), x~ = beta x_E + (1-beta) x_pi as a new leaf, g = dSum R(x~)/dx~ with
create_graph=True, n = ||g||_inf per row, GP = mean(max(n - 1, 0)^2)  (double backward through SiLU).
clip_grad_norm 1000, Adam lr 3e-4.  Reports reward updates per second ("gail_reward_update").
--full additionally measures a whole GAIL iteration ("gail_iter"): the reward update, then relabel
128 expert + 128 replay rows with R (no grad) and one SAC update (torch_sac.SAC, alpha init 1).

usage: /usr/bin/python3 bench/torch_gail.py [--torch-threads 1] [--blas-threads 1] [--seconds 3] [--seed 0] [--full]
"""
import torch_common as tc  # first: pins threads before torch is imported
import torch
import torch.nn as nn

import torch_sac


class RewardModel(nn.Module):
    def __init__(self, obs_dim, act_dim, hidden=(256, 256, 256), max_reward=10.0):
        super().__init__()
        self.max_reward = max_reward
        self.mlp = tc.mlp(obs_dim + act_dim + 1, hidden, 1)  # use_done: +1 input column

    @staticmethod
    def inputs(obs, act, done):
        return torch.cat([torch.cat([obs, act], dim=-1) * (1 - done), done], dim=-1)

    def forward_on_inputs(self, x):
        return self.mlp(x).clip(-self.max_reward, self.max_reward)

    def forward(self, obs, act, done):
        return self.forward_on_inputs(self.inputs(obs, act, done))


def grad_penalty(x_real, x_fake, f, target=1.0):
    """Margin GP with the per-row infinity norm of the input gradient (spec §2.6)."""
    beta = torch.rand(len(x_real), 1)
    x = (beta * x_real + (1 - beta) * x_fake).detach().requires_grad_(True)  # new leaf
    out = f(x)
    g = torch.autograd.grad(out, x, grad_outputs=torch.ones_like(out), create_graph=True, retain_graph=True)[0]
    n = torch.linalg.norm(g, ord=float("inf"), dim=-1)
    gp = torch.max(n - target, torch.zeros_like(n)).pow(2).mean()
    return gp, n


class GAILReward:
    def __init__(self, obs_dim, act_dim, lr=3e-4, gp_weight=10.0, gp_target=1.0, l2_penalty=1e-5,
                 grad_clip=1000.0):
        self.reward = RewardModel(obs_dim, act_dim)
        self.opt = torch.optim.Adam(self.reward.parameters(), lr=lr)
        self.gp_weight, self.gp_target, self.l2_penalty, self.grad_clip = gp_weight, gp_target, l2_penalty, grad_clip

    def update(self, real, fake):
        """real/fake = (obs, act, done) tuples."""
        self.opt.zero_grad()
        x_r = RewardModel.inputs(*real)
        x_f = RewardModel.inputs(*fake)
        r_r = self.reward.forward_on_inputs(x_r)
        r_f = self.reward.forward_on_inputs(x_f)
        reward_loss = -(r_r.mean() - r_f.mean())
        gp, n = grad_penalty(x_r, x_f, self.reward.forward_on_inputs, self.gp_target)
        l2 = tc.l2(self.reward)
        loss = reward_loss + self.gp_weight * gp + self.l2_penalty * l2
        loss.backward()
        nn.utils.clip_grad_norm_(self.reward.parameters(), self.grad_clip)
        self.opt.step()
        with torch.no_grad():
            reward_abs = (r_r.abs().mean() + r_f.abs().mean()) / 2
        # logged scalars, as in the reference
        return reward_loss.item(), gp.item(), n.mean().item(), reward_abs.item(), l2.item()


def main():
    def extra(p):
        p.add_argument("--full", action="store_true", help="also time a full GAIL iteration (reward + SAC)")
    args = tc.parse_args(__doc__.splitlines()[0], extra)
    obs_dim, act_dim, B = 11, 3, 256
    n_exp, n_rep = 10_000, 100_000
    expert = torch_sac.random_buffer(n_exp, obs_dim, act_dim, term_frac=0.0)  # kept expert rows never terminate
    replay = torch_sac.random_buffer(n_rep, obs_dim, act_dim, term_frac=0.01)
    rm = GAILReward(obs_dim, act_dim)

    def reward_step():
        eo, ea, _, _, ed = torch_sac.sample(expert, n_exp, B)
        po, pa, _, _, pd = torch_sac.sample(replay, n_rep, B)
        rm.update((eo, ea, ed), (po, pa, pd))

    m = tc.measure(reward_step, args.seconds)
    R = [obs_dim + act_dim + 1, 256, 256, 256, 1]
    # 2x256 rows fwd+bwd, GP: fwd + input-grad (recorded) + backward through both (~2x fwd+bwd)
    flop = tc.linear_flops(R, 2 * B, fwd=1, wgrad=1, igrad=1) + tc.linear_flops(R, B, fwd=1, igrad=1, igrad_first=True) \
        + 2 * tc.linear_flops(R, B, fwd=1, wgrad=1, igrad=1, igrad_first=True)
    tc.emit("gail_reward_update", args, m, gflop_approx=round(flop / 1e9, 3))

    if args.full:
        sac = torch_sac.SAC(obs_dim, act_dim, alpha=1.0)
        h = B // 2

        def gail_iter():
            reward_step()
            e = torch_sac.sample(expert, n_exp, h)
            p = torch_sac.sample(replay, n_rep, B - h)
            obs, act, _, next_obs, done = (torch.cat([a, b], dim=0) for a, b in zip(e, p))
            with torch.no_grad():
                rwd = rm.reward(obs, act, done)
            sac.update(obs, act, rwd, next_obs, done)

        m2 = tc.measure(gail_iter, args.seconds)
        tc.emit("gail_iter", args, m2)


if __name__ == "__main__":
    main()
