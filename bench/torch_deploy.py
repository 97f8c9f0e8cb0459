"""PyTorch baseline: deploying a trained policy -- the tanh-Gaussian actor (3 x 256 SiLU, hopper sizes
11 -> 3) under torch.no_grad: single-observation latency (deterministic tanh(mu), and a sample from the
TanhNormal) and the throughput of batches of 256 observations. The work of bench/c/deploy_bench.c (the
C API) and bench/deploy.lua (the Lua actor). Weights are PyTorch's default init (the same sizes and
op sequence as data/hopper/expert_policy.h5; timing does not depend on the values).

usage: /usr/bin/python3 bench/torch_deploy.py [--torch-threads 1] [--blas-threads 1] [--seconds 3] [--batch 256]
"""
import torch_common as tc  # first: pins threads before torch is imported
import torch


def main():
    args = tc.parse_args(__doc__.splitlines()[0], lambda p: p.add_argument("--batch", type=int, default=256))
    O, A = 11, 3
    actor = tc.TanhNormalActor(O, A).eval()
    obs = torch.rand(1024, O) * 2 - 1
    k = [0]

    @torch.no_grad()
    def det():
        k[0] = (k[0] + 1) % 1024
        mu, _ = actor.stats(obs[k[0]:k[0] + 1])
        torch.tanh(mu)

    @torch.no_grad()
    def sampled():
        k[0] = (k[0] + 1) % 1024
        actor.dist(obs[k[0]:k[0] + 1]).sample()

    @torch.no_grad()
    def batched():
        mu, _ = actor.stats(obs[:args.batch])
        torch.tanh(mu)
        return args.batch

    for mode, fn, name in (("deterministic", det, "deploy_single"), ("sampled", sampled, "deploy_single"),
                           ("deterministic", batched, "deploy_batch")):
        m = tc.measure(fn, args.seconds, warmup=50)
        rows = args.batch if name == "deploy_batch" else 1
        extra = {"mode": mode, "us_per_call": round(1e6 * rows / m["per_s"], 3)}
        if rows > 1:
            extra["batch"] = rows
        tc.emit(name, args, m, unit="rows" if rows > 1 else "calls", **extra)


if __name__ == "__main__":
    main()
