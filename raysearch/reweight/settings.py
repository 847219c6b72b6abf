"""Settings of one reweighting trial, validated before any Ray work starts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from raysearch.data import DEFAULT_DATASET, check_dataset_name, load_dataset, num_classes
from raysearch.models import check_model_name, default_model
from raysearch.noisy import NoiseSpec
from raysearch.reweight.data import ReweightData, build_reweight_data
from raysearch.reweight.imbalance import check_imbalance
from raysearch.reweight.lfm_dr import LFMDRConfig, ReweightRun


@dataclass(frozen=True, kw_only=True)
class ReweightSettings:
    """Everything of a reweighting trial; ``to_config`` gives the plain-JSON Tune config.

    ``data_seed`` fixes the data (validation split, long-tail subsample, meta set, label noise);
    ``seed`` fixes the training (initialisation, shuffling).
    """

    method: str = "lfm"
    dataset: str = DEFAULT_DATASET
    data_root: str | None = None
    download: bool = False
    imbalance: float = 1.0
    noise: str = "none"
    data_seed: int = 0
    val_fraction: float = 0.1
    num_meta: int = 10
    model: str | None = None
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.05
    hessian: str = "finite-difference"
    b_update: str = "eq9"
    max_batches_per_epoch: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        check_dataset_name(self.dataset)
        check_imbalance(self.imbalance)
        NoiseSpec.parse(self.noise).validate(num_classes(self.dataset))
        check_model_name(self.model_name)
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.num_meta < 1:
            raise ValueError(
                f"num_meta (clean samples per class) must be >= 1, got {self.num_meta}"
            )
        if self.data_root is not None and not Path(self.data_root).is_absolute():
            # trials chdir into their own folder: resolve before Tune sees the path
            object.__setattr__(self, "data_root", str(Path(self.data_root).expanduser().resolve()))
        self.run_config()  # validates method, epochs, batch size, lr, hessian, b_update

    @property
    def model_name(self) -> str:
        return self.model or default_model(self.dataset)

    def run_config(self) -> LFMDRConfig:
        return LFMDRConfig(
            method=self.method,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            hessian=self.hessian,
            b_update=self.b_update,
            max_batches_per_epoch=self.max_batches_per_epoch,
        )

    def to_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ReweightSettings:
        """Settings from a trial config; Tune's own keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in config.items() if k in names})


def build_data(settings: ReweightSettings) -> ReweightData:
    """The trial's data: long-tailed and/or noisy training labels and the clean meta set."""
    splits = load_dataset(
        settings.dataset,
        root=settings.data_root,
        val_fraction=settings.val_fraction,
        seed=settings.data_seed,
        download=settings.download,
    )
    return build_reweight_data(
        splits,
        imbalance=settings.imbalance,
        noise=NoiseSpec.parse(settings.noise),
        num_meta=settings.num_meta,
        seed=settings.data_seed,
    )


def build_reweight_run(
    settings: ReweightSettings, *, device: str | torch.device = "cpu"
) -> ReweightRun:
    """The run a reweighting trial trains."""
    return ReweightRun(
        build_data(settings),
        settings.run_config(),
        model=settings.model_name,
        seed=settings.seed,
        device=device,
    )
