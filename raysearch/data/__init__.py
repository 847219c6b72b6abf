"""Data sets: the registry, in-memory splits and batching."""

from raysearch.data.registry import (
    DEFAULT_DATASET,
    check_dataset_files,
    check_dataset_name,
    dataset_names,
    load_dataset,
    num_classes,
)
from raysearch.data.splits import (
    DatasetSplits,
    ImageSplit,
    check_batch_limit,
    iterate_batches,
    to_float,
)

__all__ = [
    "DEFAULT_DATASET",
    "DatasetSplits",
    "ImageSplit",
    "check_batch_limit",
    "check_dataset_files",
    "check_dataset_name",
    "dataset_names",
    "iterate_batches",
    "load_dataset",
    "num_classes",
    "to_float",
]
