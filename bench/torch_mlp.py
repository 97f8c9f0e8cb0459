"""PyTorch baseline: forward + backward of an MLP 11 -> 256 -> 256 -> 256 -> 3 (SiLU), batch 256.

loss = sum(y^2); backward into the weights (input needs no grad); zero_grad every iteration,
no optimizer step.  Counterpart of bench/mlp.lua.  Reports updates (fwd+bwd) per second.

usage: /usr/bin/python3 bench/torch_mlp.py [--torch-threads 1] [--blas-threads 1] [--seconds 3] [--seed 0]
"""
import torch_common as tc  # first: pins threads before torch is imported
import torch


def main():
    args = tc.parse_args(__doc__.splitlines()[0])
    dims, B = [11, 256, 256, 256, 3], 256
    net = tc.mlp(dims[0], dims[1:-1], dims[-1])
    x = torch.randn(B, dims[0])

    def step():
        net.zero_grad()
        y = net(x)
        (y * y).sum().backward()

    m = tc.measure(step, args.seconds)
    flop = tc.linear_flops(dims, B, fwd=1, wgrad=1, igrad=1)
    tc.emit("mlp_fwd_bwd", args, m, gflop=round(flop / 1e9, 4), gflops=round(m["per_s"] * flop / 1e9, 2))


if __name__ == "__main__":
    main()
