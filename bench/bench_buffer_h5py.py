"""h5py + torch baseline for loading a D4RL-layout file (the read part of torchrl's D4RL loader):
read every core key with h5py into numpy, convert to float32 torch tensors, split flags to bool.
Prints one JSON line: {"bench": "d4rl_load", "impl": "h5py_torch", "seconds": median of 3}.

usage: /usr/bin/python3 bench/bench_buffer_h5py.py FILE
"""
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


def load(path):
    with h5py.File(path, "r") as f:
        out = {}
        for k in ("observations", "actions", "rewards", "next_observations"):
            out[k] = torch.from_numpy(np.asarray(f[k][()], dtype=np.float32))
        for k in ("terminals", "timeouts"):
            out[k] = torch.from_numpy(f[k][()].astype(bool))
        return out


def main():
    path = sys.argv[1]
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        d = load(path)
        times.append(time.perf_counter() - t0)
        assert d["observations"].shape[0] == d["rewards"].shape[0]
    times.sort()
    print(json.dumps({"bench": "d4rl_load", "impl": "h5py_torch", "seconds": round(times[1], 4),
                      "rows": int(d["observations"].shape[0])}))


if __name__ == "__main__":
    main()
