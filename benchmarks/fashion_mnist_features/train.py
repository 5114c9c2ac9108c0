"""Train the ``fashion-mnist-features`` extractor and write it, with its card, into the package.

    OMP_NUM_THREADS=2 python benchmarks/fashion_mnist_features/train.py --epochs 4 --seed 0

Reads the IDX files directly (the extractor must not depend on how ``open_dataset`` fits 28 px to 32), trains
:class:`genae.metrics.fashion_cnn.FashionMNISTClassifier` on the 60k training split, measures accuracy on
the 10k test split and writes ``genae/metrics/weights/fashion_mnist_features.{safetensors,json,md}``.

Inputs reach the network at 32 px. Generative models for Fashion-MNIST work at 32 px and their data
may have been resized (28 -> 32) or padded (2 px border), so training shows the network both, each with
random shifts of up to 2 px and horizontal flips.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import time
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch.nn import functional as F

from genae.data.idx import read_idx
from genae.io import atomic_path, write_text_atomic
from genae.metrics.fashion_cnn import INPUT_SIZE, FashionMNISTClassifier, to_network_input

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "genae" / "metrics" / "weights"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def load_split(root: Path, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(read_idx(root / f"{prefix}-images-idx3-ubyte.gz").copy()).float()
    labels = torch.from_numpy(read_idx(root / f"{prefix}-labels-idx1-ubyte.gz").copy()).long()
    return images[:, None] / 127.5 - 1.0, labels


def padded(images: torch.Tensor) -> torch.Tensor:
    border = (INPUT_SIZE - images.shape[-1]) // 2
    return F.pad(images, (border,) * 4, value=-1.0)


def augment(resized: torch.Tensor, pads: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Per image: pick resized or padded, shift by up to 2 px (background fill), maybe flip."""
    n = resized.shape[0]
    pick = torch.rand(n, generator=generator) < 0.5
    x = torch.where(pick[:, None, None, None], resized, pads)
    x = F.pad(x, (2, 2, 2, 2), value=-1.0)
    dx, dy = (torch.randint(0, 5, (2, n), generator=generator)).tolist()
    x = torch.stack([x[i, :, dy[i] : dy[i] + INPUT_SIZE, dx[i] : dx[i] + INPUT_SIZE] for i in range(n)])
    flip = torch.rand(n, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


@torch.no_grad()
def accuracy(model: FashionMNISTClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    correct = sum(
        (model(images[i : i + 1000]).argmax(1) == labels[i : i + 1000]).sum().item()
        for i in range(0, len(images), 1000)
    )
    return correct / len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)

    train_x, train_y = load_split(args.data, "train")
    test_x, test_y = load_split(args.data, "t10k")
    train_resized, train_padded = to_network_input(train_x), padded(train_x)
    test_resized, test_padded = to_network_input(test_x), padded(test_x)

    model = FashionMNISTClassifier()
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    steps_per_epoch = len(train_x) // args.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, args.lr, total_steps=args.epochs * steps_per_epoch)
    started = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train_x), generator=generator)
        total = 0.0
        for step in range(steps_per_epoch):
            index = order[step * args.batch_size : (step + 1) * args.batch_size]
            x = augment(train_resized[index], train_padded[index], generator)
            loss = F.cross_entropy(model(x), train_y[index], label_smoothing=0.05)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item()
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / steps_per_epoch:.4f}, "
              f"test acc (resized) {accuracy(model, test_resized, test_y):.4f}, {time.time() - started:.0f}s",
              flush=True)
    minutes = (time.time() - started) / 60
    acc_resized = accuracy(model, test_resized, test_y)
    acc_padded = accuracy(model, test_padded, test_y)

    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / "fashion_mnist_features.safetensors"
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    with atomic_path(weights) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "extractor": "fashion-mnist-features"})
    sha256 = hashlib.sha256(weights.read_bytes()).hexdigest()
    card = {
        "extractor": "fashion-mnist-features",
        "network": "genae.metrics.fashion_cnn.FashionMNISTClassifier",
        "feature_dim": 256,
        "input": "grey, [-1, 1], 32x32 (bilinear antialiased resize)",
        "training_data": "Fashion-MNIST train split (60000 images)",
        "test_accuracy_resized_28_to_32": acc_resized,
        "test_accuracy_padded_28_to_32": acc_padded,
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
        "threads": args.threads, "train_wall_minutes": round(minutes, 2),
        "torch": torch.__version__, "python": platform.python_version(),
        "command": f"OMP_NUM_THREADS={args.threads} python benchmarks/fashion_mnist_features/train.py "
                   f"--epochs {args.epochs} --seed {args.seed}",
        "weights_sha256": sha256,
    }
    write_text_atomic(args.out / "fashion_mnist_features.json", json.dumps(card, indent=2) + "\n")
    write_text_atomic(args.out / "fashion_mnist_features.md", render_card(card))
    print(json.dumps(card, indent=2))


def render_card(card: dict) -> str:
    return f"""# fashion-mnist-features

A small CNN classifier trained on the Fashion-MNIST training split. Its 256-d penultimate layer
(post-ReLU) is the feature space of genae's *domain* FID/KID for Fashion-MNIST-scale data.
Scores computed with it are labelled `FID[fashion-mnist-features]` and are **not** comparable with
Inception FID numbers from the literature.

| | |
|---|---|
| test accuracy, 28->32 resized | {card['test_accuracy_resized_28_to_32']:.4f} |
| test accuracy, 28->32 padded | {card['test_accuracy_padded_28_to_32']:.4f} |
| classes | {', '.join(CLASSES)} |
| input | {card['input']} |
| training | {card['epochs']} epochs, AdamW + one-cycle lr {card['lr']}, batch {card['batch_size']}, seed {card['seed']}, \
random resize-or-pad, 2-px shifts, flips; {card['train_wall_minutes']} min wall-clock on {card['threads']} \
CPU threads (a shared machine: about 1 min per epoch when idle, longer under load) |
| torch | {card['torch']} |
| weights sha256 | `{card['weights_sha256']}` |

Reproduce: `{card['command']}`
"""


if __name__ == "__main__":
    main()
