"""The embedded ``fashion-mnist-mini`` data set (see ``build_embedded.py``)."""

from __future__ import annotations

import numpy as np

from raysearch.data.build_embedded import EMBEDDED_PATH
from raysearch.data.splits import ImageSplit, as_split


def load_embedded() -> tuple[ImageSplit, ImageSplit, int]:
    """Train and test splits of the embedded subset, and its 10 classes."""
    with np.load(EMBEDDED_PATH) as arrays:
        train = as_split(arrays["train_images"], arrays["train_labels"])
        test = as_split(arrays["test_images"], arrays["test_labels"])
    return train, test, 10
