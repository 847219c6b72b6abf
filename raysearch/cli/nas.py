"""``raysearch nas`` subcommands (hooked into raysearch/cli/main.py by ``add_nas_parser``).

``search`` runs one supernet method as a Ray Train job; ``evaluate`` trains genotypes from
scratch through the shared evaluation stage; ``compare`` does both for methods x seeds.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from raysearch.analysis.results_folder import (
    FolderState,
    claim_folder,
    mark_finished,
    write_atomic,
    write_fingerprint,
)
from raysearch.cli.checks import check_out_folder, use_ray_address
from raysearch.data.augment import AUGMENTATIONS
from raysearch.nas.methods import method_names, takes_base

ADDRESS_HELP = "Ray address, checked in seconds (default: RAY_ADDRESS, else a local Ray)"
BN_HELP = "batches to recompute BatchNorm statistics on before testing (0: DARTS' recipe)"
AUGMENT_HELP = (
    "standard: random crop (padding 4), horizontal flip, per-channel normalisation (DARTS); "
    "none: raw pixels"
)


def _search(args: argparse.Namespace) -> int:
    from raysearch.data import check_dataset_name
    from raysearch.tune.nas_search import SearchSettings, check_search, run_search

    check_dataset_name(args.dataset)
    settings = SearchSettings(
        method=args.method, base=args.base, dataset=args.dataset,
        data_root=_absolute(args.data_root), epochs=args.epochs, C=args.C,
        layers=args.layers, batch_size=args.batch_size, max_batches=args.max_batches,
        seed=args.seed, augment=args.augment,
    )  # fmt: skip

    check_search(settings, workers=args.workers, gpus_per_worker=args.gpus_per_worker)
    out = check_out_folder(args.out)  # created only for a search that can start
    fingerprint = {**asdict(settings), "workers": args.workers,
                   "gpus_per_worker": args.gpus_per_worker}  # fmt: skip
    if claim_folder(out, "nas search", fingerprint, resume=args.resume) is FolderState.FINISHED:
        print(f"{out} finished earlier with these settings; nothing to run")
        print(f"genotype: {(out / 'genotype.txt').read_text().strip()}")
        return 0
    use_ray_address(args.address)
    write_fingerprint(out, "nas search", fingerprint)
    write_atomic(out / "settings.json", json.dumps(asdict(settings), indent=2))  # for analyze
    result = run_search(  # validates everything before Ray starts; raises if the job fails
        settings, workers=args.workers, gpus_per_worker=args.gpus_per_worker,
        storage_path=str(out), name="search",
    )  # fmt: skip
    genotype = str(result.metrics["genotype"])
    write_atomic(out / "genotype.txt", genotype + "\n")
    print(f"genotype: {genotype}")
    if "cell_genotypes" in result.metrics:
        write_atomic(out / "cell_genotypes.txt", str(result.metrics["cell_genotypes"]) + "\n")
    mark_finished(out)
    print(f"written: {out / 'genotype.txt'}")
    return 0


def _absolute(path: str | None) -> str | None:
    """Data paths made absolute on the driver (Ray workers run in other folders)."""
    return None if path is None else str(Path(path).expanduser().resolve())


def _add_search_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``search`` and ``compare``: data, supernet size, budget, scaling."""
    parser.add_argument("--base", default=None, help="base method of a wrapper (lease, lfm)")
    parser.add_argument("--dataset", default="fashion-mnist-mini")
    parser.add_argument("--data-root", default=None, help="folder holding the data set files")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="Ray Train workers per search")
    parser.add_argument("--gpus-per-worker", type=float, default=0.0)
    parser.add_argument("--C", type=int, default=8)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-batches", type=int, default=None, help="steps per epoch cap")
    parser.add_argument("--augment", default="standard", choices=AUGMENTATIONS, help=AUGMENT_HELP)
    parser.add_argument("--out", required=True)
    parser.add_argument("--address", default=None, help=ADDRESS_HELP)
    _add_resume_option(parser)


def _add_resume_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resume", action="store_true", help="finish the interrupted run in --out")


def _int_list(text: str, what: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"{what} must be comma-separated integers, got {text!r}") from None


def _compare(args: argparse.Namespace) -> int:
    from raysearch.nas.evaluation import EvalBudget
    from raysearch.tune.nas_compare import NasCompareSettings, check_methods, run_compare
    from raysearch.tune.nas_search import SearchSettings

    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    check_methods(methods)
    wrappers = [m for m in methods if takes_base(m)]
    search = SearchSettings(  # the template: the base (if any) is checked on a wrapper method
        method=wrappers[0] if args.base is not None and wrappers else methods[0],
        base=args.base, dataset=args.dataset, data_root=_absolute(args.data_root),
        epochs=args.epochs, C=args.C, layers=args.layers,
        batch_size=args.batch_size, max_batches=args.max_batches, augment=args.augment,
    )  # fmt: skip
    budget = EvalBudget(
        dataset=args.dataset, data_root=_absolute(args.data_root), epochs=args.eval_epochs,
        C=args.eval_C, layers=args.eval_layers,
        batch_size=args.eval_batch_size, max_batches=args.eval_max_batches,
        workers=args.eval_workers, gpus_per_worker=args.gpus_per_worker,
        bn_recalibration_batches=args.eval_bn_recalibration_batches,
        cutout_length=args.eval_cutout_length, augment=args.augment,
    )  # fmt: skip
    settings = NasCompareSettings(
        methods=methods, seeds=_int_list(args.seeds, "--seeds"), search=search, budget=budget,
        workers=args.workers, gpus_per_worker=args.gpus_per_worker,
        max_concurrent=args.max_concurrent,
    )  # fmt: skip
    check_out_folder(args.out)
    use_ray_address(args.address)
    frame = run_compare(settings, args.out, resume=args.resume)  # validates before Ray starts
    out = Path(args.out).expanduser().resolve()
    print((out / "nas_compare.md").read_text(), end="")
    print(
        f"written: {out / 'nas_compare.csv'}, {out / 'nas_compare.md'}, {out / 'nas_compare.png'}"
    )
    return 0 if frame["error"].isna().all() else 1


def _evaluate(args: argparse.Namespace) -> int:
    from raysearch.nas.evaluation import EvalBudget, plan_evaluations

    budget = EvalBudget(
        dataset=args.dataset, data_root=_absolute(args.data_root), epochs=args.epochs, C=args.C,
        layers=args.layers,
        batch_size=args.batch_size, max_batches=args.max_batches,
        auxiliary_weight=args.auxiliary_weight, drop_path_prob=args.drop_path_prob,
        cutout_length=args.cutout_length, lr=args.lr, workers=args.workers,
        gpus_per_worker=args.gpus_per_worker,
        bn_recalibration_batches=args.bn_recalibration_batches, augment=args.augment,
    )  # fmt: skip
    seeds = _int_list(args.seeds, "--seeds")
    plan_evaluations(args.genotype, seeds, budget)  # bad input fails here, before Ray starts
    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise ValueError(f"--max-concurrent must be >= 1, got {args.max_concurrent}")
    out = check_out_folder(args.out).resolve()
    fingerprint = {"genotypes": args.genotype, "seeds": seeds, "budget": asdict(budget)}
    shown = ["genotype_name", "seed", "params_m", "test_acc", "wall_time_s", "error"]
    if claim_folder(out, "nas evaluate", fingerprint, resume=args.resume) is FolderState.FINISHED:
        import pandas as pd

        print(f"{out} finished earlier with these settings; nothing to run")
        frame = pd.read_csv(out / "evaluation.csv")
        print(frame[shown].to_string(index=False))
        return 0 if frame["error"].isna().all() else 1
    use_ray_address(args.address)
    from raysearch.tune.nas_evaluate import evaluate

    write_fingerprint(out, "nas evaluate", fingerprint)
    frame = evaluate(  # Interrupted when stopped early: evaluation.csv is then not written
        args.genotype, seeds, budget, storage_path=str(out), max_concurrent=args.max_concurrent
    )
    write_atomic(out / "evaluation.csv", lambda path: frame.to_csv(path, index=False))
    mark_finished(out)
    print(frame[shown].to_string(index=False))
    print(f"written: {out / 'evaluation.csv'}")
    return 0 if frame["error"].isna().all() else 1


def add_nas_parser(commands: Any) -> None:
    """Add ``nas search`` to the ``raysearch`` subparsers ``commands``."""
    nas = commands.add_parser("nas", help="differentiable architecture search on Ray Train")
    sub = nas.add_subparsers(dest="nas_command", required=True)
    search = sub.add_parser("search", help="run a supernet search as a Ray Train job")
    search.add_argument("--method", default="darts-1st", help=" | ".join(method_names()))
    _add_search_options(search)
    search.add_argument("--seed", type=int, default=0)
    search.set_defaults(func=_search)
    compare = sub.add_parser(
        "compare", help="search with several methods and seeds, evaluate every genotype"
    )
    compare.add_argument("--methods", default="darts,darts-1st,xnas,asm",
                         help=f"comma-separated, of {', '.join(method_names())}")  # fmt: skip
    _add_search_options(compare)
    compare.add_argument("--seeds", default="0,1", help="comma-separated search (= eval) seeds")
    compare.add_argument("--eval-epochs", type=int, default=1)
    compare.add_argument("--eval-C", type=int, default=8)
    compare.add_argument("--eval-layers", type=int, default=4)
    compare.add_argument("--eval-batch-size", type=int, default=64)
    compare.add_argument("--eval-max-batches", type=int, default=None)
    compare.add_argument("--eval-bn-recalibration-batches", type=int, default=20, help=BN_HELP)
    compare.add_argument("--eval-cutout-length", type=int, default=0, help="0: no cutout")
    compare.add_argument(
        "--eval-workers", type=int, default=1, help="Ray Train workers per evaluation"
    )
    compare.add_argument("--max-concurrent", type=int, default=None, help="evaluations at once")
    compare.set_defaults(func=_compare)
    evaluate = sub.add_parser(
        "evaluate", help="train genotypes from scratch (one Ray Train job per genotype and seed)"
    )
    evaluate.add_argument("--genotype", action="append", required=True,
                          help="published name (DARTS_V2, PC_DARTS, ...), genotype string or "
                          "file; repeat for several")  # fmt: skip
    evaluate.add_argument("--seeds", default="0", help="comma-separated seeds")
    evaluate.add_argument("--dataset", default="fashion-mnist-mini")
    evaluate.add_argument("--data-root", default=None, help="folder holding the data set files")
    evaluate.add_argument("--epochs", type=int, default=1)
    evaluate.add_argument("--C", type=int, default=8)
    evaluate.add_argument("--layers", type=int, default=4)
    evaluate.add_argument("--batch-size", type=int, default=64)
    evaluate.add_argument("--max-batches", type=int, default=None, help="steps per epoch cap")
    evaluate.add_argument("--auxiliary-weight", type=float, default=0.4)
    evaluate.add_argument("--drop-path-prob", type=float, default=0.2)
    evaluate.add_argument("--cutout-length", type=int, default=0, help="0: no cutout")
    evaluate.add_argument("--augment", default="standard", choices=AUGMENTATIONS, help=AUGMENT_HELP)
    evaluate.add_argument("--lr", type=float, default=0.025)
    evaluate.add_argument("--bn-recalibration-batches", type=int, default=20, help=BN_HELP)
    evaluate.add_argument("--workers", type=int, default=1, help="Ray Train workers per job")
    evaluate.add_argument("--gpus-per-worker", type=float, default=0.0)
    evaluate.add_argument("--max-concurrent", type=int, default=None, help="jobs at once")
    evaluate.add_argument("--out", required=True)
    evaluate.add_argument("--address", default=None, help=ADDRESS_HELP)
    _add_resume_option(evaluate)
    evaluate.set_defaults(func=_evaluate)
