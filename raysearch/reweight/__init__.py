"""Data reweighting: long-tailed data, LFM's example weights, LFM-DR and its plain baseline.

Torch only (no Ray); :mod:`raysearch.tune.reweight_trainable` wraps a run as a Tune trial.
"""

from raysearch.reweight.data import ReweightData, build_reweight_data, split_meta
from raysearch.reweight.imbalance import check_imbalance, long_tailed_counts, make_long_tailed
from raysearch.reweight.lfm_dr import METHODS, LFMDRConfig, ReweightMetrics, ReweightRun

__all__ = [
    "METHODS",
    "LFMDRConfig",
    "ReweightData",
    "ReweightMetrics",
    "ReweightRun",
    "build_reweight_data",
    "check_imbalance",
    "long_tailed_counts",
    "make_long_tailed",
    "split_meta",
]
