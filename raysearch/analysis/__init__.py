"""Dataframes, tables and plots from finished raysearch experiments (pandas, matplotlib).

``load_experiment(path)`` reads any results folder into one long DataFrame (one row per trial
and epoch); ``final_rows(frame)`` keeps each trial's last epoch. No Ray needed.
"""

from raysearch.analysis.experiment_frame import detect_kind, final_rows, load_experiment

__all__ = ["detect_kind", "final_rows", "load_experiment"]
