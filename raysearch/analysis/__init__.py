"""Dataframes, tables and plots from finished raysearch experiments (pandas, matplotlib)."""
