"""The S2E paper's reward: a clean validation split D_val carved from the training part."""

import numpy as np
import pytest
import torch

from raysearch.cli.main import main as raysearch_main
from raysearch.data import ImageSplit, carve_validation, load_dataset, subsample
from raysearch.noisy.settings import TrialSettings, build_run, load_trial_data
from search_spaces.schedules import default_config

SCHEDULE = default_config("coteaching", noise_rate=0.5)


def _rows(images: torch.Tensor) -> set[bytes]:
    return {bytes(x.numpy()) for x in images}


def _numbered_split(n: int) -> ImageSplit:
    """Row i's pixels spell i, so every row is unique and traceable."""
    ids = torch.arange(n)
    images = torch.stack([ids % 256, ids // 256], dim=1).to(torch.uint8).view(n, 1, 1, 2)
    return ImageSplit(images, ids % 10)


def _ids(split: ImageSplit) -> np.ndarray:
    flat = split.images.view(len(split), 2).long()
    return (flat[:, 0] + 256 * flat[:, 1]).numpy()


def test_carved_validation_and_training_rows_partition_the_training_part():
    full = _numbered_split(1000)
    train, val = carve_validation(full, val_fraction=0.15, seed=7)
    assert len(val) == 150 and len(train) == 850
    assert sorted(np.concatenate([_ids(train), _ids(val)]).tolist()) == list(range(1000))
    again_train, again_val = carve_validation(full, val_fraction=0.15, seed=7)
    assert np.array_equal(_ids(again_val), _ids(val))
    other = carve_validation(full, val_fraction=0.15, seed=8)[1]
    assert not np.array_equal(_ids(other), _ids(val))


def test_subsample_takes_distinct_seeded_rows_and_rejects_too_many():
    full = _numbered_split(300)
    part = subsample(full, 40, seed=1)
    assert len(set(_ids(part))) == 40 and np.array_equal(
        _ids(subsample(full, 40, seed=1)), _ids(part)
    )
    with pytest.raises(ValueError, match="301"):
        subsample(full, 301, seed=1)


def test_default_trial_scores_on_clean_labels_disjoint_from_the_noisy_training_rows():
    settings = TrialSettings(noise="pair:0.45", epochs=1, max_batches_per_epoch=3)
    assert settings.val == "clean"
    run = build_run(settings, SCHEDULE)
    clean = load_dataset("fashion-mnist-mini", val_fraction=settings.val_fraction, seed=0)
    assert torch.equal(run.data.val.images, clean.val.images)
    assert torch.equal(run.data.val.labels, clean.val.labels)  # D_val keeps its true labels
    assert run.data.actual_noise_rate > 0.4  # while the training labels are noisy
    assert not _rows(run.data.val.images) & _rows(run.data.train.images)
    # the test set is the data set's own, untouched
    assert torch.equal(run.data.test.images, clean.test.images)
    assert torch.equal(run.data.test.labels, clean.test.labels)
    assert not _rows(run.data.test.images[:500]) & _rows(run.data.val.images)
    # the reported reward is the nets' accuracy on the clean labels (independent computation)
    metrics = run.train_epoch()
    with torch.no_grad():
        x = clean.val.images.float() / 255.0
        accs = [float((net(x).argmax(1) == clean.val.labels).float().mean()) for net in run.nets]
    assert metrics.val_acc == pytest.approx(sum(accs) / 2, abs=1e-6)


def test_noisy_validation_keeps_the_rows_and_corrupts_their_labels():
    settings = TrialSettings(noise="pair:0.45", val="noisy", epochs=1, max_batches_per_epoch=3)
    run = build_run(settings, SCHEDULE)
    clean = load_dataset("fashion-mnist-mini", val_fraction=settings.val_fraction, seed=0)
    assert torch.equal(run.data.val.images, clean.val.images)
    flipped = run.data.val.labels != clean.val.labels
    assert abs(float(flipped.float().mean()) - 0.45) < 0.05
    assert torch.equal(run.data.val.labels[flipped], (clean.val.labels[flipped] + 1) % 10)
    assert torch.equal(run.data.test.labels, clean.test.labels)
    assert 0.0 <= run.train_epoch().val_acc <= 1.0


def test_val_fraction_sizes_d_val_and_train_size_cuts_only_the_training_rows():
    data = load_trial_data(TrialSettings(val_fraction=0.2, train_size=3000))
    full = load_dataset("fashion-mnist-mini", val_fraction=0.2, seed=0)
    assert len(data.val) == 2400 and len(data.train) == 3000
    assert torch.equal(data.val.images, full.val.images)
    assert _rows(data.train.images) <= _rows(full.train.images)
    assert len(data.test) == len(full.test)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"val": "dirty"}, "'dirty'.*clean, noisy"),
        ({"val_fraction": 0.0}, "val_fraction"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"train_size": 10}, "train_size"),
    ],
)
def test_bad_validation_settings_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrialSettings(**kwargs)


def test_train_size_beyond_the_training_rows_names_the_limit():
    with pytest.raises(ValueError, match="train_size=20000 exceeds the 10800"):
        load_trial_data(TrialSettings(train_size=20000))


def test_cli_rejects_an_unknown_validation_kind_before_any_ray_work(capsys):
    assert raysearch_main(["compare", "--val", "dirty", "--out", "/tmp/never"]) == 2
    assert "'dirty'" in capsys.readouterr().err
