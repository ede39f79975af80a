"""Watch the layer spectra of a small MLP change while it trains (a few seconds on a CPU).

    python examples/watch_training.py [--steps 300] [--every 50] [--plot alpha.png]

Trains a 784-256-128-10 MLP with Adam on a synthetic 10-class task (a random linear teacher
on Gaussian inputs), analyses it with weightscope.callbacks.Watcher every `--every` steps and
prints α per layer by step, then the model means (mean α and α̂). With matplotlib installed
it also saves α against the step (`--plot`). Needs torch and the weightscope package.
"""

from __future__ import annotations

import argparse
import time

import torch
from weightscope.callbacks import Watcher


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--plot", default="watch_training_alpha.png", help="'' for no plot")
    ap.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="a model this small trains fastest on one",
    )
    args = ap.parse_args()

    torch.set_num_threads(args.torch_threads)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )
    teacher = torch.randn(784, 10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    watcher = Watcher(model, every=args.every)

    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        x = torch.randn(128, 784)
        y = (x @ teacher).argmax(dim=1)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if watcher.step(step) is not None:
            print(f"step {step:4d}  loss {loss.item():.3f}")
    print(f"trained and analysed in {time.perf_counter() - start:.1f} s\n")

    print("alpha per layer by step:")
    print(watcher.history.pivot(index="step", columns="layer", values="alpha").round(3))
    print("\nmodel means:")
    print(watcher.summary_history.round(3).to_string(index=False))

    if args.plot:
        try:
            watcher.plot("alpha", path=args.plot)
            print(f"\nwrote {args.plot}")
        except ImportError as e:
            print(f"\nno plot: {e}")


if __name__ == "__main__":
    main()
