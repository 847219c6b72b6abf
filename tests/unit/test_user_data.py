"""A user's own data set as ``--dataset``: ImageFolder, .npz, module:function (no Ray)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

from raysearch.cli import main
from raysearch.data import is_user_dataset, load_dataset, num_classes, resolve_dataset
from raysearch.models import MIN_IMAGE_SIZE, check_model_input
from raysearch.noisy.settings import TrialSettings, build_run, trial_noise_report
from search_spaces.schedules import default_config

RNG = np.random.default_rng(0)


def _npz(path, *, train=40, test=12, classes=3, shape=(8, 8), **override):
    arrays = {
        "x_train": RNG.integers(0, 256, (train, *shape), dtype=np.uint8),
        "y_train": np.arange(train) % classes,
        "x_test": RNG.integers(0, 256, (test, *shape), dtype=np.uint8),
        "y_test": np.arange(test) % classes,
    }
    arrays.update(override)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return str(path)


def _png_folder(root, counts, *, size=10, mode="RGB"):
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            pixels = RNG.integers(0, 256, (size, size, 3) if mode == "RGB" else (size, size))
            Image.fromarray(pixels.astype(np.uint8), mode).save(root / cls / f"{i:02d}.png")
    return root


def test_npz_round_trips_its_pixels_labels_and_classes(tmp_path):
    path = _npz(tmp_path / "d.npz", shape=(8, 8, 3))
    arrays = np.load(path)
    splits = load_dataset(path, val_fraction=0.25, seed=0)
    assert splits.num_classes == 3 and splits.in_channels == 3 and splits.image_size == 8
    assert len(splits.train) == 30 and len(splits.val) == 10 and len(splits.test) == 12
    rows = np.concatenate([splits.train_rows, splits.val_rows])
    assert sorted(rows) == list(range(40))
    expected = torch.from_numpy(arrays["x_train"][splits.train_rows].transpose(0, 3, 1, 2))
    assert torch.equal(splits.train.images, expected)
    assert torch.equal(splits.training_part_labels(), torch.as_tensor(arrays["y_train"]))


def test_npz_with_its_own_validation_split_keeps_it(tmp_path):
    path = _npz(tmp_path / "d.npz", x_val=np.zeros((6, 8, 8), np.uint8), y_val=np.arange(6) % 3)
    splits = load_dataset(path, val_fraction=0.5)
    assert len(splits.train) == 40 and len(splits.val) == 6 and splits.val_rows is None


def test_float_pixels_in_unit_range_become_bytes(tmp_path):
    x = np.full((40, 1, 8, 8), 0.5, dtype=np.float32)  # channels-first floats, ToTensor style
    splits = load_dataset(_npz(tmp_path / "d.npz", x_train=x))
    assert splits.in_channels == 1 and int(splits.train.images.max()) == 128


def test_image_folder_with_train_and_test_subfolders(tmp_path):
    _png_folder(tmp_path / "imgs" / "train", {"cat": 6, "dog": 4})
    _png_folder(tmp_path / "imgs" / "test", {"cat": 2, "dog": 2})
    splits = load_dataset(str(tmp_path / "imgs"), val_fraction=0.2)
    assert (splits.num_classes, splits.in_channels, splits.image_size) == (2, 3, 10)
    assert len(splits.train) + len(splits.val) == 10 and len(splits.test) == 4
    labels = splits.training_part_labels().tolist()
    assert labels == [0] * 6 + [1] * 4  # sorted class folders: cat = 0, dog = 1
    on_disk = np.array(Image.open(tmp_path / "imgs" / "test" / "dog" / "01.png"))
    assert torch.equal(splits.test.images[3], torch.from_numpy(on_disk.transpose(2, 0, 1)))


def test_single_image_folder_splits_every_fifth_image_per_class_to_test(tmp_path):
    _png_folder(tmp_path / "imgs", {"a": 10, "b": 5, "c": 7}, mode="L")
    splits = load_dataset(str(tmp_path / "imgs"), val_fraction=0.1)
    assert splits.in_channels == 1  # every file grey
    assert splits.test.labels.tolist() == [0, 0, 1, 2]  # positions 5 and 10 of a, 5 of b and c
    assert len(splits.train) + len(splits.val) == 22 - 4


def _write_module(tmp_path, name, body):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    return f"{name}:load"


def test_entry_point_returning_tensors(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = _write_module(tmp_path, "ud_tensors", """
        import torch
        def load():
            g = torch.Generator().manual_seed(0)
            x = torch.rand(50, 3, 12, 12, generator=g)
            return x, torch.arange(50) % 4, x[:8], torch.arange(8) % 4
    """)  # fmt: skip
    assert is_user_dataset(spec) and num_classes(spec) == 4
    splits = load_dataset(spec, val_fraction=0.2)
    assert (splits.in_channels, splits.image_size, len(splits.train)) == (3, 12, 40)


def test_entry_point_returning_datasets_is_found_from_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = _write_module(tmp_path, "ud_datasets", """
        import torch
        from torch.utils.data import TensorDataset
        def load():
            x = torch.rand(30, 1, 8, 8)
            return TensorDataset(x, torch.arange(30) % 2), TensorDataset(x[:6], torch.arange(6) % 2)
    """)  # fmt: skip
    resolved, root = resolve_dataset(spec, None)
    assert resolved == spec and root == str(tmp_path)  # trials import it from there
    settings = TrialSettings(dataset=spec, noise="pair:0.3", epochs=2, batch_size=8)
    assert settings.data_root == str(tmp_path) and settings.model_name == "mlp"  # grey: MLP


def test_trial_on_user_data_trains_a_model_fitted_to_its_shape(tmp_path):
    path = _npz(tmp_path / "d.npz", train=64, classes=5, shape=(16, 16, 3))
    settings = TrialSettings(dataset=path, epochs=2, batch_size=16, noise="symmetric:0.2")
    assert settings.model_name == "lenet"  # colour: the S2E code's CIFAR-10 net
    run = build_run(settings, default_config("coteaching", noise_rate=0.2))
    assert run.nets[0](torch.zeros(2, 3, 16, 16)).shape == (2, 5)
    metrics = run.train_epoch()
    assert 0.0 <= metrics.val_acc <= 1.0 and 0.0 <= metrics.label_precision <= 1.0
    report = trial_noise_report(settings)
    assert report.rows == len(run.data.train) and report.num_classes == 5
    assert report.rate == pytest.approx(1 - float(run.data.clean_train.float().mean()))


def test_relative_paths_become_absolute_before_ray(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _npz(tmp_path / "d.npz")
    settings = TrialSettings(dataset="d.npz", epochs=2, batch_size=8)
    assert settings.dataset == str(tmp_path / "d.npz")
    assert TrialSettings.from_config(settings.to_config()) == settings


@pytest.mark.parametrize("name", sorted(MIN_IMAGE_SIZE))
def test_each_model_takes_its_minimum_image_size_and_refuses_smaller(name):
    size = MIN_IMAGE_SIZE[name]
    check_model_input(name, in_channels=3, num_classes=7, image_size=max(size, 2))
    if size > 1:
        with pytest.raises(ValueError, match=f"needs images of at least {size}x{size} px"):
            check_model_input(name, in_channels=3, num_classes=7, image_size=size - 1)


# -- bad input: one-line errors before any Ray work ---------------------------------------------

BAD_NPZ = [
    ({"y_train": np.arange(39) % 3}, "y_train has 39 labels but x_train has 40 rows"),
    ({"y_train": np.arange(40) % 3 - 1}, "y_train has label -1; labels must be 0..C-1"),
    ({"y_train": np.arange(40) % 3 + 1}, "y_train has no row of class 0 of 0..3"),
    ({"y_train": np.zeros(40, int), "y_test": np.zeros(12, int)}, "need at least 2 classes"),
    ({"y_train": (np.arange(40) % 3).astype(float)}, "y_train must hold integer class indices"),
    (
        {"x_test": np.zeros((12, 9, 9), np.uint8)},
        "x_test images are 1x9x9 but x_train ones are 1x8x8",
    ),
    ({"x_train": np.zeros((40, 8, 6), np.uint8)}, "images must be square, got 8x6"),
    ({"x_train": np.full((40, 8, 8), 2.0)}, r"float pixels must be in \[0, 1\]"),
    ({"x_train": np.full((40, 8, 8), 300)}, "integer pixels must be in 0..255"),
    ({"x_train": np.zeros((40, 8, 8, 5), np.uint8)}, "no channel axis of size 1, 3 or 4"),
    ({"x_test": None}, "missing x_test"),
    ({"x_val": np.zeros((3, 8, 8), np.uint8)}, "x_val and y_val come together"),
    ({"extra": np.zeros(3)}, "unknown array"),
]


@pytest.mark.parametrize("override,message", BAD_NPZ)
def test_bad_npz_is_refused_naming_what_is_wrong(tmp_path, override, message):
    path = _npz(tmp_path / "d.npz", **override)
    with pytest.raises(ValueError, match=message) as error:
        TrialSettings(dataset=path)
    assert "\n" not in str(error.value)


def test_npz_with_objects_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x_train=np.array([object()] * 3, dtype=object))
    with pytest.raises(ValueError, match="holds an object array"):
        TrialSettings(dataset=str(path))


def test_bad_image_folders(tmp_path):
    mixed = _png_folder(tmp_path / "mixed", {"a": 5, "b": 5})
    Image.new("RGB", (12, 12)).save(mixed / "b" / "zz.png")
    with pytest.raises(ValueError, match=r"zz.png is 12x12 px but .* is 10x10"):
        load_dataset(str(mixed))
    with pytest.raises(ValueError, match="too few images to split"):
        load_dataset(str(_png_folder(tmp_path / "few", {"a": 2, "b": 3})))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="is not an ImageFolder layout"):
        load_dataset(str(tmp_path / "empty"))
    _png_folder(tmp_path / "split" / "train", {"a": 3, "b": 3})
    _png_folder(tmp_path / "split" / "test", {"a": 1, "c": 1})
    with pytest.raises(ValueError, match=r"has classes \['a', 'c'\] but .* has \['a', 'b'\]"):
        load_dataset(str(tmp_path / "split"))


def test_bad_entry_points(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="cannot import 'ud_missing'"):
        TrialSettings(dataset="ud_missing:load")
    _write_module(tmp_path, "ud_wrong", "def load():\n    return 3\n")
    with pytest.raises(ValueError, match="returned int; expected"):
        TrialSettings(dataset="ud_wrong:load")
    with pytest.raises(ValueError, match="ud_wrong has no function 'other'"):
        TrialSettings(dataset="ud_wrong:other")


def test_model_too_big_for_the_images_and_paths_refused(tmp_path):
    path = _npz(tmp_path / "d.npz")
    with pytest.raises(ValueError, match="model 'cnn9' needs images of at least 28x28 px"):
        TrialSettings(dataset=path, model="cnn9")
    with pytest.raises(ValueError, match="--data-root is for registered data sets"):
        TrialSettings(dataset=path, data_root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="dataset file not found"):
        TrialSettings(dataset=str(tmp_path / "nope.npz"))
    with pytest.raises(
        KeyError, match="unknown dataset 'nope'; registered datasets: .* or your own"
    ):
        TrialSettings(dataset="nope")


def test_cli_refuses_bad_user_data_before_ray(tmp_path, capsys):
    path = _npz(tmp_path / "d.npz", y_train=np.arange(40) % 3 + 1)
    out = tmp_path / "out"
    assert main(["trial", "--dataset", path, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("raysearch: error: y_train has no row of class 0") and "\n" not in err
    assert not out.exists()


def test_the_guides_example_files_load_in_every_form(tmp_path):
    """docs/data-and-labels.md's files (``python -m raysearch.data.examples``), form by form."""
    from raysearch.data.examples import write_examples

    d = write_examples(tmp_path / "my-data")
    forms = [  # (settings, training rows, classes, noise rate: None = unknown)
        (dict(dataset=f"{d}/images"), 54, 3, 0.5),
        (dict(dataset="my_data:load", data_root=str(d), noise="symmetric:0.3"), 180, 2, 0.29),
        (dict(dataset=f"{d}/digits.npz", labels=f"{d}/digits-noisy.npy"), 216, 4, 0.23),
        (dict(dataset=f"{d}/digits.npz", labels=f"{d}/digits-noisy.csv"), 216, 4, 0.23),
        (
            dict(
                dataset="cifar10",
                data_root=f"{d}/cifar10",
                labels=f"{d}/CIFAR-10_human.pt",
                labels_key="worse_label",
            ),
            450,
            10,
            0.41,
        ),  # fmt: skip
        (
            dict(dataset=f"{d}/digits-unlabelled.npz", labels=f"{d}/digits-noisy.npy", val="noisy"),
            216,
            4,
            None,
        ),  # fmt: skip
    ]
    for kw, rows, classes, rate in forms:
        noise = kw.pop("noise", "none" if "labels" in kw else "symmetric:0.5")
        report = trial_noise_report(TrialSettings(**kw, noise=noise, epochs=2, batch_size=16))
        assert (report.rows, report.num_classes) == (rows, classes), kw
        assert report.rate is None if rate is None else report.rate == pytest.approx(rate, abs=0.01)
