"""Build the embedded ``fashion-mnist-mini`` data set from Debian's ``dataset-fashion-mnist``.

Run once by a maintainer (the result is committed inside the package)::

    apt-get install dataset-fashion-mnist
    python -m raysearch.data.build_embedded

It keeps a class-balanced, seeded subset of the real Fashion-MNIST (Zalando Research, MIT
licence): ``TRAIN_PER_CLASS`` training and ``TEST_PER_CLASS`` test images of every class,
with their indices into the original files for provenance.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from raysearch.data.idx_format import find_idx_pair, read_idx

DEBIAN_ROOT = Path("/usr/share/datasets/fashion-mnist")
EMBEDDED_PATH = Path(__file__).parent / "embedded" / "fashion_mnist_mini.npz"
TRAIN_PER_CLASS = 1200
TEST_PER_CLASS = 200
SEED = 0


def balanced_indices(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """``per_class`` random indices of every class, in ascending order."""
    picks = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        if len(members) < per_class:
            raise ValueError(f"class {cls} has only {len(members)} images, {per_class} asked")
        picks.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(picks))


def build(root: Path = DEBIAN_ROOT, out: Path = EMBEDDED_PATH) -> Path:
    rng = np.random.default_rng(SEED)
    arrays = {}
    for prefix, split, per_class in (
        ("train", "train", TRAIN_PER_CLASS),
        ("t10k", "test", TEST_PER_CLASS),
    ):
        pair = find_idx_pair(root, prefix)
        if pair is None:
            raise FileNotFoundError(
                f"no {prefix}-*-ubyte[.gz] files in {root}; apt-get install dataset-fashion-mnist"
            )
        images, labels = read_idx(pair[0]), read_idx(pair[1])
        index = balanced_indices(labels, per_class, rng)
        arrays[f"{split}_images"] = images[index]
        arrays[f"{split}_labels"] = labels[index]
        arrays[f"{split}_source_index"] = index.astype(np.int32)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEBIAN_ROOT)
    parser.add_argument("--out", type=Path, default=EMBEDDED_PATH)
    args = parser.parse_args()
    path = build(args.root, args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
