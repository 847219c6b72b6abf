"""Data sets: the registry, in-memory splits and batching."""

from raysearch.data.augment import AUGMENTATIONS, Augmentation, augmentation
from raysearch.data.label_files import LabelFile, check_labels_fit, read_label_file
from raysearch.data.registry import (
    DEFAULT_DATASET,
    check_dataset_files,
    check_dataset_name,
    dataset_names,
    is_user_dataset,
    load_dataset,
    num_classes,
    resolve_dataset,
)
from raysearch.data.splits import (
    DatasetSplits,
    ImageSplit,
    carve_validation,
    check_batch_limit,
    iterate_batches,
    subsample,
    subsample_rows,
    to_float,
)

__all__ = [
    "AUGMENTATIONS",
    "Augmentation",
    "DEFAULT_DATASET",
    "DatasetSplits",
    "augmentation",
    "ImageSplit",
    "LabelFile",
    "check_batch_limit",
    "check_dataset_files",
    "carve_validation",
    "check_dataset_name",
    "check_labels_fit",
    "dataset_names",
    "is_user_dataset",
    "iterate_batches",
    "load_dataset",
    "num_classes",
    "read_label_file",
    "resolve_dataset",
    "subsample",
    "subsample_rows",
    "to_float",
]
