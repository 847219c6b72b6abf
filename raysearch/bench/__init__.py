"""The schedule benchmark: real Co-teaching runs tabulated once, a surrogate over them, and every
registered searcher run against it at no training cost (the HPOBench / YAHPO Gym way).

``tasks`` names the tabulated tasks, ``design`` the schedules trained on them, ``tabulate`` the
Tune experiment that trains them (``raysearch bench tabulate``), ``tables`` reads the shipped
parquet tables, ``surrogate`` predicts a schedule's per-epoch curves from its R(t), and
``simulate`` drives the real searcher and scheduler objects against it (``raysearch bench run``).
"""
