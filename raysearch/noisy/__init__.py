"""Learning with noisy labels: transition matrices, corruption, Co-teaching driven by R(t)."""

from raysearch.noisy.coteaching import (
    CoteachingConfig,
    CoteachingRun,
    EpochMetrics,
    check_schedule,
    coteaching_losses,
    num_kept,
)
from raysearch.noisy.noisy_data import VAL_KINDS, NoisyData, check_val_kind, make_noisy
from raysearch.noisy.transition import (
    NOISE_KINDS,
    NoiseSpec,
    check_noise,
    corrupt_labels,
    transition_matrix,
)

__all__ = [
    "NOISE_KINDS",
    "VAL_KINDS",
    "CoteachingConfig",
    "CoteachingRun",
    "EpochMetrics",
    "NoiseSpec",
    "NoisyData",
    "check_noise",
    "check_schedule",
    "check_val_kind",
    "corrupt_labels",
    "coteaching_losses",
    "make_noisy",
    "num_kept",
    "transition_matrix",
]
