"""A synthetic bench table with a known answer, in the format of ``raysearch bench tabulate``
(for tests and smoke runs; no training).

Schedule r's accuracy after epoch e (1-based) is a rising learning curve less a penalty for
straying from a hidden best schedule R* (Co-teaching's shape, τ = 0.45, T_k = 40 of 200):
``acc(e) = 0.55 + 0.3 (1 - exp(-e / 4)) - 2 mean_{t < e} (R(t) - R*(t))²`` plus Gaussian seed
noise of std ``noise`` (the same draw for val and test, each with its own small extra noise).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from raysearch.bench.design import schedule_design
from raysearch.bench.tasks import check_task, noise_rate
from search_spaces.schedules import family_of, get_family

HIDDEN = {"tau": 0.45, "t_k": 40.0, "c": 1.0}


def synthetic_curve(keep: np.ndarray) -> np.ndarray:
    """The noiseless accuracy after each epoch of a run with R(t) = ``keep`` (module docstring)."""
    epochs = len(keep)
    hidden = get_family("coteaching").values(HIDDEN, epochs)
    e = np.arange(1, epochs + 1)
    penalty = np.cumsum((keep - hidden) ** 2) / e
    return 0.55 + 0.3 * (1.0 - np.exp(-e / 4.0)) - 2.0 * penalty


def synthetic_table(
    task: str = "sym50-e20-n6000", *, sobol: int = 64, seeds: int = 2, noise: float = 0.004,
    seed: int = 0,
) -> pd.DataFrame:  # fmt: skip
    """A table of ``task``'s design with ``sobol`` Sobol points, ``seeds`` seeds, seed noise
    ``noise`` (a fixed draw for ``seed``)."""
    epochs = check_task(task)["epochs"]
    rng = np.random.default_rng(seed)
    design = schedule_design(sobol=sobol, noise_rate=noise_rate(task))
    keep = np.array([family_of(d["schedule"]).values(d["schedule"], epochs) for d in design])
    clean = np.array([synthetic_curve(k) for k in keep])[:, None, :]  # schedules x 1 x E
    shape = (len(design), seeds, epochs)
    shift = noise * rng.standard_normal(shape)
    val, test = (clean + shift + noise / 2 * rng.standard_normal(shape) for _ in range(2))
    per_row = seeds * epochs

    def each(values: list) -> np.ndarray:
        return np.repeat(np.array(values, dtype=object), per_row)

    return pd.DataFrame({
        "task": task,
        "seed": np.tile(np.repeat(np.arange(seeds), epochs), len(design)),
        "design_id": each([d["design_id"] for d in design]),
        "kind": each([d["kind"] for d in design]),
        "family": each([d["schedule"]["family"] for d in design]),
        "schedule": each([json.dumps(d["schedule"], sort_keys=True) for d in design]),
        "epoch": np.tile(np.arange(1, epochs + 1), len(design) * seeds),
        "keep_rate": np.broadcast_to(keep[:, None, :], shape).ravel(),
        "val_acc": val.ravel(), "test_acc": test.ravel(),
        "label_precision": np.broadcast_to(keep[:, None, :], shape).ravel(),
        "train_loss": np.tile(1.0 / np.arange(2, epochs + 2), len(design) * seeds),
    })  # fmt: skip
