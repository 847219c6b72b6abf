"""Data sets: the registry, in-memory splits and batching."""

from raysearch.data.augment import AUGMENTATIONS, Augmentation, augmentation
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
    carve_validation,
    check_batch_limit,
    iterate_batches,
    subsample,
    to_float,
)

__all__ = [
    "AUGMENTATIONS",
    "Augmentation",
    "DEFAULT_DATASET",
    "DatasetSplits",
    "augmentation",
    "ImageSplit",
    "check_batch_limit",
    "check_dataset_files",
    "carve_validation",
    "check_dataset_name",
    "dataset_names",
    "iterate_batches",
    "load_dataset",
    "num_classes",
    "subsample",
    "to_float",
]
