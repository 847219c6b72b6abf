"""Settings of one Co-teaching trial, validated before any Ray work starts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from raysearch.data import (
    DEFAULT_DATASET,
    DatasetSplits,
    check_labels_fit,
    is_user_dataset,
    load_dataset,
    num_classes,
    read_label_file,
    resolve_dataset,
    subsample_rows,
)
from raysearch.data.label_files import check_label_file
from raysearch.data.user_sources import load_user_data
from raysearch.models import check_model_input, check_model_name, default_model
from raysearch.noisy.coteaching import CoteachingConfig, CoteachingRun
from raysearch.noisy.noise_report import NoiseReport, noise_report
from raysearch.noisy.noisy_data import NoisyData, check_label_use, check_val_kind, make_noisy
from raysearch.noisy.transition import NoiseSpec
from search_spaces.schedules import family_of

SYNTHETIC_NOISE = "symmetric:0.5"
# the tau default Co-teaching schedules assume when the noise rate cannot be measured
UNKNOWN_NOISE_RATE = 0.5


def noise_or_default(noise: str | None, labels: str | None) -> str:
    """``noise``, or for a trial that names none: ``none`` with a label file (its labels are
    the noise), else symmetric 50 %."""
    if noise is not None:
        return noise
    return "none" if labels is not None else SYNTHETIC_NOISE


@dataclass(frozen=True)
class TrialSettings:
    """Everything of a trial except its schedule; ``to_config`` gives the plain-JSON Tune config.

    ``val``: how a trial is scored. ``"clean"`` (default) is the S2E paper's reward (its eq. (2)):
    accuracy on a clean validation split D_val; ``"noisy"`` corrupts that split's labels like
    the training ones (for users without clean labels). D_val is the seeded ``val_fraction``
    share of the data set's *training* part (never the test set). ``train_size``: how many of
    the remaining training rows to train on (seeded; ``None``: all of them). Both splits are
    drawn with ``noise_seed``, so every trial of a comparison sees the same data.

    ``dataset``: a registered name or a user's data set (a folder, ``.npz`` or
    ``module:function``, see :mod:`raysearch.data.user_sources`), made absolute here.
    ``labels``: a label file of real noisy labels, one per row of the data set's training part
    (:mod:`raysearch.data.label_files`; ``labels_key`` picks a ``.pt`` dict's entry); it
    replaces synthetic noise (``noise`` must be ``none``), and the data set's own labels are
    the clean ones. A user's data set or a label file is loaded and checked here.
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
    labels: str | None = None
    labels_key: str | None = None

    def __post_init__(self) -> None:
        # trials chdir into their own folder: every path is made absolute before Tune sees it
        dataset, root = resolve_dataset(self.dataset, self.data_root)
        object.__setattr__(self, "dataset", dataset)
        object.__setattr__(self, "data_root", root)
        noise = NoiseSpec.parse(self.noise)
        if self.labels is not None:
            labels = check_label_file(self.labels, self.labels_key)
            object.__setattr__(self, "labels", str(labels))
            if noise.kind is not None:
                raise ValueError(
                    f"--labels replaces synthetic noise; leave --noise out (or give none), "
                    f"got {self.noise}"
                )
        elif self.labels_key is not None:
            raise ValueError(f"--labels-key {self.labels_key!r} needs --labels PATH (a .pt file)")
        noise.validate(num_classes(self.dataset, self.data_root))
        check_model_name(self.model_name)
        check_val_kind(self.val)
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.train_size is not None and self.train_size < self.batch_size:
            raise ValueError(
                f"train_size must be >= batch_size={self.batch_size} (or None: all rows), "
                f"got {self.train_size}"
            )
        self.coteaching_config()  # validates epochs, batch size, lr
        if self.labels is not None or is_user_dataset(self.dataset):
            self._check_data()

    def _check_data(self) -> None:
        """Load the user's data set / label file and check they fit: rows, classes, the
        validation kind, the model on the image shape."""
        splits = load_trial_data(self)
        check_label_use(splits, val=self.val, from_file=self.labels is not None)
        trial_labels(self, splits)
        check_model_input(self.model_name, in_channels=splits.in_channels,
                          num_classes=splits.num_classes, image_size=splits.image_size)  # fmt: skip

    @property
    def model_name(self) -> str:
        if self.model is not None:
            return self.model
        if is_user_dataset(self.dataset):
            channels = load_user_data(self.dataset, self.data_root).image_shape[0]
            return default_model(self.dataset, in_channels=channels)
        return default_model(self.dataset)

    @property
    def noise_rate(self) -> float | None:
        """The noise rate of the training labels: the synthetic one, or the one measured in a
        label file against the clean labels (``None``: no clean labels to measure it)."""
        if self.labels is None:
            return NoiseSpec.parse(self.noise).rate
        return trial_noise_report(self).rate

    @property
    def schedule_noise_rate(self) -> float:
        """The tau of default Co-teaching schedules: :attr:`noise_rate`, else 0.5."""
        rate = self.noise_rate
        return UNKNOWN_NOISE_RATE if rate is None else rate

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
    """The clean splits a trial uses: D_val carved from the training part (or the data set's
    own), the training rows cut to ``train_size``, the test set as shipped."""
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
    kept = subsample_rows(len(splits.train), settings.train_size, seed=settings.noise_seed)
    rows = None if splits.train_rows is None else splits.train_rows[kept]
    return dataclasses.replace(splits, train=splits.train.subset(kept), train_rows=rows)


def trial_labels(settings: TrialSettings, splits: DatasetSplits) -> torch.Tensor | None:
    """The label file's labels (one per row of the training part, checked against ``splits``:
    row count, class range, its ``clean_label`` entry), or ``None`` without ``--labels``."""
    if settings.labels is None:
        return None
    file = read_label_file(settings.labels, key=settings.labels_key)
    full = load_dataset(settings.dataset, root=settings.data_root, val_fraction=settings.val_fraction,
                        seed=settings.noise_seed, download=settings.download)  # fmt: skip
    clean = full.training_part_labels()
    check_labels_fit(file, rows=len(clean), num_classes=full.num_classes,
                     clean=clean.numpy() if full.clean_labels_known else None)  # fmt: skip
    return torch.as_tensor(file.labels, dtype=torch.long)


def trial_noisy_data(settings: TrialSettings) -> NoisyData:
    """The trial's data with its noisy training labels (synthetic, or from the label file)."""
    splits = load_trial_data(settings)
    return make_noisy(
        splits,
        NoiseSpec.parse(settings.noise),
        seed=settings.noise_seed,
        val=settings.val,
        labels=trial_labels(settings, splits),
    )


def trial_noise_report(settings: TrialSettings) -> NoiseReport:
    """The label noise present in the trial's training rows (see :mod:`raysearch.noisy.noise_report`)."""
    if settings.labels is not None:
        key = f", key {settings.labels_key}" if settings.labels_key else ""
        source = f"labels from {settings.labels}{key}"
    else:
        source = f"synthetic noise {NoiseSpec.parse(settings.noise)} (seed {settings.noise_seed})"
    return noise_report(trial_noisy_data(settings), source)


def build_run(
    settings: TrialSettings, schedule: dict[str, Any], *, device: str | torch.device = "cpu"
) -> CoteachingRun:
    """The Co-teaching run a trial trains: noisy data, schedule R(t), model and optimisers."""
    family = family_of(schedule)
    data = trial_noisy_data(settings)
    return CoteachingRun(
        data,
        family.schedule(schedule, settings.epochs),
        settings.coteaching_config(),
        model=settings.model_name,
        seed=settings.seed,
        device=device,
    )
