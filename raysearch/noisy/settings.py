"""Settings of one Co-teaching trial, validated before any Ray work starts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from raysearch.data import (
    DEFAULT_DATASET,
    DatasetSplits,
    check_dataset_name,
    load_dataset,
    num_classes,
    subsample,
)
from raysearch.models import check_model_name, default_model
from raysearch.noisy.coteaching import CoteachingConfig, CoteachingRun
from raysearch.noisy.noisy_data import check_val_kind, make_noisy
from raysearch.noisy.transition import NoiseSpec
from search_spaces.schedules import family_of


@dataclass(frozen=True)
class TrialSettings:
    """Everything of a trial except its schedule; ``to_config`` gives the plain-JSON Tune config.

    ``val``: how a trial is scored. ``"clean"`` (default) is the S2E paper's reward (its eq. (2)):
    accuracy on a clean validation split D_val; ``"noisy"`` corrupts that split's labels like
    the training ones (for users without clean labels). D_val is the seeded ``val_fraction``
    share of the data set's *training* part (never the test set). ``train_size``: how many of
    the remaining training rows to train on (seeded; ``None``: all of them). Both splits are
    drawn with ``noise_seed``, so every trial of a comparison sees the same data.
    """

    dataset: str = DEFAULT_DATASET
    data_root: str | None = None
    download: bool = False
    noise: str = "symmetric:0.5"
    noise_seed: int = 0
    val: str = "clean"
    val_fraction: float = 0.1
    train_size: int | None = None
    model: str | None = None
    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    max_batches_per_epoch: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        check_dataset_name(self.dataset)
        NoiseSpec.parse(self.noise).validate(num_classes(self.dataset))
        check_model_name(self.model_name)
        check_val_kind(self.val)
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.train_size is not None and self.train_size < self.batch_size:
            raise ValueError(
                f"train_size must be >= batch_size={self.batch_size} (or None: all rows), "
                f"got {self.train_size}"
            )
        if self.data_root is not None and not Path(self.data_root).is_absolute():
            # trials chdir into their own folder: resolve before Tune sees the path
            object.__setattr__(self, "data_root", str(Path(self.data_root).expanduser().resolve()))
        self.coteaching_config()  # validates epochs, batch size, lr

    @property
    def model_name(self) -> str:
        return self.model or default_model(self.dataset)

    def coteaching_config(self) -> CoteachingConfig:
        return CoteachingConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            max_batches_per_epoch=self.max_batches_per_epoch,
        )

    def to_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TrialSettings:
        """Settings from a trial config; the ``schedule`` key (and Tune's own keys) are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in config.items() if k in names})


def check_schedule_config(schedule: dict[str, Any]) -> dict[str, Any]:
    """Validate a concrete schedule config against its family; return the normalised copy."""
    return family_of(schedule).validate(schedule)


def load_trial_data(settings: TrialSettings) -> DatasetSplits:
    """The clean splits a trial uses: D_val carved from the training part, the training rows
    cut to ``train_size``, the test set as shipped."""
    splits = load_dataset(
        settings.dataset,
        root=settings.data_root,
        val_fraction=settings.val_fraction,
        seed=settings.noise_seed,
        download=settings.download,
    )
    if settings.train_size is None:
        return splits
    if settings.train_size > len(splits.train):
        raise ValueError(
            f"train_size={settings.train_size} exceeds the {len(splits.train)} training rows of "
            f"{settings.dataset} left after the validation split (val_fraction={settings.val_fraction})"
        )
    train = subsample(splits.train, settings.train_size, seed=settings.noise_seed)
    return dataclasses.replace(splits, train=train)


def build_run(
    settings: TrialSettings, schedule: dict[str, Any], *, device: str | torch.device = "cpu"
) -> CoteachingRun:
    """The Co-teaching run a trial trains: noisy data, schedule R(t), model and optimisers."""
    family = family_of(schedule)
    data = make_noisy(
        load_trial_data(settings),
        NoiseSpec.parse(settings.noise),
        seed=settings.noise_seed,
        val=settings.val,
    )
    return CoteachingRun(
        data,
        family.schedule(schedule, settings.epochs),
        settings.coteaching_config(),
        model=settings.model_name,
        seed=settings.seed,
        device=device,
    )
