"""PyTorch baseline: one BC update (spec §4.1), hopper sizes.

actor 11 -> [256,256,256] -> TanhNormal(3) (SiLU); batch of 256 rows drawn with torch.randint from a
random in-memory expert train split (18 000 rows ~ 0.9 x 20 trajectories; sampling is timed);
L = -mean log pi(a_E|o) + l2_penalty * l2(actor) with l2_penalty = 0 (config; the term is still built,
as the reference does); grad-norm clip 1000; Adam lr 3e-4.  Like the reference, the step also draws one
reparameterized sample for the logged action MAE.  Reports updates per second.

usage: /usr/bin/python3 bench/torch_bc.py [--torch-threads 1] [--blas-threads 1] [--seconds 3] [--seed 0]
"""
import torch_common as tc  # first: pins threads before torch is imported
import torch
import torch.nn as nn


def main():
    def extra(p):
        p.add_argument("--rows", type=int, default=18000, help="expert train-split rows")
        p.add_argument("--l2-penalty", type=float, default=0.0)
    args = tc.parse_args(__doc__.splitlines()[0], extra)
    obs_dim, act_dim, B = 11, 3, 256

    data_obs = torch.randn(args.rows, obs_dim)
    data_act = torch.tanh(torch.randn(args.rows, act_dim))
    actor = tc.TanhNormalActor(obs_dim, act_dim)
    opt = torch.optim.Adam(actor.parameters(), lr=3e-4)

    def step():
        idx = torch.randint(0, args.rows, (B,))
        obs, act = data_obs[idx], data_act[idx]
        opt.zero_grad()
        logp, act_pred = tc.action_log_prob(actor, obs, act)
        loss = -logp.mean() + args.l2_penalty * tc.l2(actor)
        loss.backward()
        nn.utils.clip_grad_norm_(actor.parameters(), 1000.0)
        opt.step()
        with torch.no_grad():
            mae = torch.abs(act_pred - act).mean()
        return_stats = (logp.mean().item(), mae.item())  # noqa: F841  (logged by the reference)

    m = tc.measure(step, args.seconds)
    flop = tc.linear_flops([obs_dim, 256, 256, 256, 2 * act_dim], B, fwd=1, wgrad=1, igrad=1)
    tc.emit("bc_update", args, m, gflop=round(flop / 1e9, 4))


if __name__ == "__main__":
    main()
