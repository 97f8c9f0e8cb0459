"""PyTorch baseline: sampling 256-row batches from a 1M-row replay buffer (walker2d/halfcheetah sizes).

Buffer tensors: obs [N,17], act [N,6], reward [N,1], next obs [N,17], done [N,1] (float32, ~168 MB).
Per batch: idx = torch.randint(0, N, (256,)), then index_select(0, idx) on each of the 5 tensors
(uniform with replacement, spec §1.5).  Reports rows per second.

usage: /usr/bin/python3 bench/torch_buffer.py [--torch-threads 1] [--blas-threads 1] [--seconds 3] [--seed 0]
"""
import torch_common as tc  # first: pins threads before torch is imported
import torch


def main():
    def extra(p):
        p.add_argument("--rows", type=int, default=1_000_000)
        p.add_argument("--batch", type=int, default=256)
    args = tc.parse_args(__doc__.splitlines()[0], extra)
    N, B, obs_dim, act_dim = args.rows, args.batch, 17, 6
    bufs = [torch.randn(N, obs_dim), torch.rand(N, act_dim) * 2 - 1, torch.randn(N, 1),
            torch.randn(N, obs_dim), (torch.rand(N, 1) < 0.01).float()]

    def step():
        idx = torch.randint(0, N, (B,))
        batch = [t.index_select(0, idx) for t in bufs]  # noqa: F841
        return B

    m = tc.measure(step, args.seconds, warmup=200)
    tc.emit("buffer_sample", args, m, unit="rows", batch=B)


if __name__ == "__main__":
    main()
