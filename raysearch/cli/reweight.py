"""``raysearch reweight`` (hooked into raysearch/cli/main.py by ``add_reweight_parser``)."""

from __future__ import annotations

import argparse
from typing import Any

from raysearch.analysis.results_folder import (
    FolderState,
    claim_folder,
    mark_finished,
    write_atomic,
    write_fingerprint,
)
from raysearch.cli.checks import at_least, check_out_folder, use_ray_address
from raysearch.data import DEFAULT_DATASET


def parse_seeds(text: str) -> list[int]:
    """``"0,1"`` to ``[0, 1]``; ``ValueError`` naming the text otherwise."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds must name distinct seeds, got {text!r}")
    return seeds


def summary_table(frame: Any) -> str:
    """Per-seed final metrics and a mean ± std row."""
    names = ("val_acc", "test_acc", "rare_class_acc", "test_acc_w2", "rare_class_acc_w2")
    columns = [c for c in names if c in frame]
    lines = ["seed  " + "  ".join(f"{c:>16}" for c in columns)]
    for _, row in frame.iterrows():
        lines.append(f"{int(row.seed):>4}  " + "  ".join(f"{row[c]:>16.4f}" for c in columns))
    stats = [f"{frame[c].mean():.4f} ± {frame[c].std(ddof=0):.4f}" for c in columns]
    lines.append("mean  " + "  ".join(f"{s:>16}" for s in stats))
    return "\n".join(lines)


def _reweight(args: argparse.Namespace) -> int:
    from raysearch.reweight.settings import ReweightSettings

    settings = ReweightSettings(
        method=args.method, dataset=args.dataset, data_root=args.data_root, imbalance=args.imbalance,
        noise=args.noise, num_meta=args.num_meta, model=args.model, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, max_batches_per_epoch=args.max_batches_per_epoch,
        b_update=args.b_update,
    )  # fmt: skip
    seeds = parse_seeds(args.seeds)
    at_least("--cpus-per-trial", args.cpus_per_trial, 1)
    out = check_out_folder(args.out).resolve()
    csv = out / f"reweight_{args.method}.csv"
    fingerprint = {**settings.to_config(), "seeds": seeds, "cpus_per_trial": args.cpus_per_trial}
    if claim_folder(out, "reweight", fingerprint, resume=args.resume) is FolderState.FINISHED:
        import pandas as pd

        print(f"{out} finished earlier with these settings; nothing to run")
        print(summary_table(pd.read_csv(csv)))
        return 0
    use_ray_address(args.address)
    from raysearch.tune.reweight_trials import run_reweight_trials  # Ray only after validation

    write_fingerprint(out, "reweight", fingerprint)
    frame = run_reweight_trials(
        settings, seeds, storage_path=out, address=args.address,
        cpus_per_trial=args.cpus_per_trial, resume=args.resume,
    )  # fmt: skip
    write_atomic(csv, lambda path: frame.to_csv(path, index=False))
    mark_finished(out)
    print(
        f"method={args.method} dataset={args.dataset} imbalance={args.imbalance:g} "
        f"noise={args.noise} epochs={args.epochs} b_update={args.b_update}"
    )
    print(summary_table(frame))
    print(f"written: {csv}")
    return 0


def add_reweight_parser(commands: Any) -> None:
    """Add ``reweight`` to the ``raysearch`` subparsers ``commands``."""
    parser = commands.add_parser(
        "reweight", help="LFM data reweighting (or plain training) as Tune trials, one per seed"
    )
    parser.add_argument("--method", default="lfm", help="lfm | none")
    parser.add_argument("--dataset", default=DEFAULT_DATASET)
    parser.add_argument("--data-root", default=None)
    parser.add_argument(
        "--imbalance", type=float, default=1.0, help="largest / smallest class (1: balanced)"
    )
    parser.add_argument("--noise", default="none", help="KIND:RATE (symmetric, pair) or none")
    parser.add_argument("--num-meta", type=int, default=10, help="clean meta samples per class")
    parser.add_argument("--model", default=None)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument(
        "--b-update", default="eq9",
        help="how B learns: eq9 (LFM eq. (9) hypergradient) | official (the official DR scripts)",
    )  # fmt: skip
    parser.add_argument("--max-batches-per-epoch", type=int, default=None)
    parser.add_argument("--seeds", default="0,1", help="comma-separated training seeds")
    parser.add_argument("--cpus-per-trial", type=int, default=1)
    parser.add_argument(
        "--address", default=None, help="Ray address, checked in seconds (default: a local Ray)"
    )
    parser.add_argument("--out", default="runs/reweight", help="Tune storage and CSV folder")
    parser.add_argument("--resume", action="store_true", help="finish the interrupted run in --out")
    parser.set_defaults(func=_reweight)
