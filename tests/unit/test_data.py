import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from raysearch.data import ImageSplit, dataset_names, iterate_batches, load_dataset, num_classes
from raysearch.data.idx_format import read_idx


def test_embedded_default_is_class_balanced_real_fashion_mnist():
    data = load_dataset("fashion-mnist-mini", val_fraction=0.1, seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (10_800, 1_200, 2_000)
    assert data.num_classes == 10 and data.in_channels == 1 and data.image_size == 28
    train_val = torch.cat([data.train.labels, data.val.labels])
    assert torch.bincount(train_val).tolist() == [1200] * 10
    assert torch.bincount(data.test.labels).tolist() == [200] * 10
    assert data.train.images.dtype == torch.uint8 and int(data.train.images.max()) > 200


def test_validation_split_is_disjoint_seeded_and_sized_by_fraction():
    a = load_dataset("fashion-mnist-mini", val_fraction=0.25, seed=3)
    b = load_dataset("fashion-mnist-mini", val_fraction=0.25, seed=3)
    c = load_dataset("fashion-mnist-mini", val_fraction=0.25, seed=4)
    assert len(a.val) == 3000 and torch.equal(a.val.images, b.val.images)
    assert not torch.equal(a.val.images, c.val.images)
    train_rows = {bytes(x.numpy()) for x in a.train.images[:500]}
    assert not any(bytes(x.numpy()) in train_rows for x in a.val.images[:500])


def test_unknown_dataset_lists_the_registered_names():
    with pytest.raises(KeyError) as err:
        load_dataset("imagenet")
    assert "imagenet" in str(err.value) and all(name in str(err.value) for name in dataset_names())


def test_bad_val_fraction_is_rejected():
    with pytest.raises(ValueError, match="val_fraction"):
        load_dataset("fashion-mnist-mini", val_fraction=1.5)


def test_missing_root_says_where_it_looked_and_how_to_get_the_data(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("cifar10", root=tmp_path)
    assert str(tmp_path) in str(err.value) and "--download" in str(err.value)
    with pytest.raises(FileNotFoundError, match="--data-root"):
        load_dataset("mnist")


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_idx_reader_round_trip_plain_and_gzip(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28)).astype(np.uint8)
    for name in ("a-ubyte", "b-ubyte.gz"):
        _write_idx(tmp_path / name, array)
        assert np.array_equal(read_idx(tmp_path / name), array)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="IDX"):
        read_idx(tmp_path / "bad")


def test_mnist_from_torchvision_layout(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for prefix, n in (("train", 40), ("t10k", 10)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    data = load_dataset("mnist", root=tmp_path, val_fraction=0.25)
    assert (len(data.train), len(data.val), len(data.test)) == (30, 10, 10)
    assert sorted(torch.cat([data.train.labels, data.val.labels]).tolist()) == sorted(
        (np.arange(40) % 10).tolist()
    )


def _write_cifar(root: Path, classes: int, n_per_file: int) -> dict[str, np.ndarray]:
    """A tiny folder in CIFAR's python-pickle format (what torchvision reads)."""
    rng = np.random.default_rng(classes)
    folder = root / ("cifar-10-batches-py" if classes == 10 else "cifar-100-python")
    folder.mkdir(parents=True)
    label_key = "labels" if classes == 10 else "fine_labels"
    files = (
        [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        if classes == 10
        else ["train", "test"]
    )
    written = {}
    for name in files:
        data = rng.integers(0, 256, (n_per_file, 3 * 32 * 32), dtype=np.uint8)
        labels = rng.integers(0, classes, n_per_file).tolist()
        written[name] = (data, labels)
        with open(folder / name, "wb") as fh:
            pickle.dump({"data": data, label_key: labels}, fh)
    meta_name, key = (
        ("batches.meta", "label_names") if classes == 10 else ("meta", "fine_label_names")
    )
    with open(folder / meta_name, "wb") as fh:
        pickle.dump({key: [f"class{i}" for i in range(classes)]}, fh)
    return written


@pytest.mark.parametrize("classes", [10, 100])
def test_cifar_loader_reads_a_tiny_cifar_format_folder(tmp_path, classes):
    written = _write_cifar(tmp_path, classes, n_per_file=6)
    data = load_dataset(f"cifar{classes}", root=tmp_path, val_fraction=0.2)
    n_train = 30 if classes == 10 else 6
    assert len(data.train) + len(data.val) == n_train and len(data.test) == 6
    assert data.num_classes == classes == num_classes(f"cifar{classes}")
    assert data.in_channels == 3 and data.image_size == 32
    test_data, test_labels = written["test_batch" if classes == 10 else "test"]
    assert torch.equal(data.test.labels, torch.tensor(test_labels))
    # torchvision's CHW pickle rows survive the HWC round trip pixel for pixel
    assert torch.equal(data.test.images.reshape(6, -1), torch.from_numpy(test_data))


def test_iterate_batches_covers_every_index_once(toy_split):
    seen = []
    for images, labels, index in iterate_batches(
        toy_split, 10, shuffle=True, generator=torch.Generator().manual_seed(0)
    ):
        assert images.dtype == torch.float32 and float(images.max()) <= 1.0
        assert torch.equal(labels, toy_split.labels[index])
        seen += index.tolist()
    assert sorted(seen) == list(range(len(toy_split)))
    dropped = list(iterate_batches(toy_split, 10, shuffle=False, drop_last=True))
    assert len(dropped) == len(toy_split) // 10


def test_iterate_batches_limit_yields_the_first_batches_of_the_same_order():
    split = ImageSplit(torch.zeros(50, 1, 2, 2, dtype=torch.uint8), torch.arange(50))

    def run(limit):
        g = torch.Generator().manual_seed(3)
        return [idx.tolist() for _, _, idx in iterate_batches(split, 8, shuffle=True, generator=g,
                                                              drop_last=True, limit=limit)]  # fmt: skip

    every = run(None)
    assert len(every) == 6  # 50 // 8
    assert run(2) == every[:2]
    assert run(99) == every  # a limit above the batch count changes nothing
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="limit must be an integer >= 1"):
            run(bad)


def test_a_trial_actor_reads_mnist_family_files_without_importing_torchvision():
    """torchvision's import (~1.3 s) is paid only by CIFAR and downloads, not per trial actor."""
    import subprocess
    import sys

    code = (
        "import sys, raysearch.tune.trainable, raysearch.data as d; "
        "d.load_dataset('fashion-mnist-mini'); print('torchvision' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
