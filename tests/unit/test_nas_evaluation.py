"""The Ray-free evaluation run: budget validation, genotype resolution, the DARTS evaluation
recipe (drop-path ramp, auxiliary weight, cosine lr), reproducibility and exact resume."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from raysearch.data import DatasetSplits, augmentation
from raysearch.nas.eval_net import count_parameters_millions
from raysearch.nas.evaluation import (
    EvalBudget,
    Evaluation,
    build_network,
    drop_path_at,
    evaluation_loss,
    genotype_from_text,
    genotype_to_text,
    plan_evaluations,
    resolve_genotype,
    run_evaluation,
    shard,
)
from search_spaces.darts import DARTS_V2, PC_DARTS, expand_genotype
from tests.conftest import synthetic_split

torch.set_num_threads(1)

TINY = EvalBudget(C=4, layers=3, batch_size=16, max_batches=3, epochs=2)


@pytest.fixture(scope="module")
def toy_data() -> DatasetSplits:
    train = synthetic_split(96, size=16, seed=1)
    test = synthetic_split(40, size=16, seed=2)
    return DatasetSplits("toy", train, test, test, 4)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("dataset", "nope", "fashion-mnist-mini"),
        ("epochs", 0, r"epochs must be an integer >= 1"),
        ("C", 2.5, r"C must be an integer >= 1"),
        ("layers", True, r"layers must be an integer"),
        ("batch_size", -1, "batch_size"),
        ("max_batches", 0, "max_batches"),
        ("auxiliary_weight", -0.1, r"auxiliary_weight must be a finite number >= 0"),
        ("drop_path_prob", 1.0, r"drop_path_prob must be a finite number in \[0, 1\)"),
        ("cutout_length", -1, "cutout_length"),
        ("lr", 0.0, r"lr must be a finite number > 0"),
        ("lr", math.nan, "lr"),
        ("workers", 0, r"workers must be an integer >= 1"),
        ("gpus_per_worker", -1, "gpus_per_worker"),
        ("bn_recalibration_batches", -1, r"bn_recalibration_batches must be an integer >= 0"),
    ],
)
def test_budget_rejects_each_bad_field(field: str, value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EvalBudget(**{field: value})  # type: ignore[arg-type]


def test_budget_defaults_are_valid_and_keyword_only() -> None:
    budget = EvalBudget()
    assert (budget.auxiliary_weight, budget.drop_path_prob, budget.lr) == (0.4, 0.2, 0.025)
    with pytest.raises(TypeError):
        EvalBudget("fashion-mnist-mini")  # type: ignore[misc]


def test_resolve_published_name_string_file_and_cell_list(tmp_path) -> None:
    assert resolve_genotype("DARTS_V2") == ("DARTS_V2", DARTS_V2)
    assert resolve_genotype("pc-darts") == ("PC_DARTS", PC_DARTS)
    label, genotype = resolve_genotype(str(DARTS_V2))
    assert genotype == DARTS_V2 and label.startswith("genotype-")
    path = tmp_path / "darts-1st" / "genotype.txt"
    path.parent.mkdir()
    path.write_text(str(PC_DARTS) + "\n")
    assert resolve_genotype(str(path)) == ("darts-1st/genotype.txt", PC_DARTS)
    cells = expand_genotype(DARTS_V2, 3)
    text = genotype_to_text(cells)
    assert resolve_genotype(text)[1] == cells
    assert genotype_from_text(text) == cells and genotype_to_text(genotype_from_text(text)) == text


def test_resolve_unknown_lists_published_names(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"DARTS_V1, DARTS_V2, PC_DARTS, P_DARTS, XNAS"):
        resolve_genotype("NOT_A_GENOTYPE")
    with pytest.raises(ValueError, match="bad genotype string"):
        resolve_genotype("Genotype(normal=[('bogus_op', 0)])")
    bad = tmp_path / "g.txt"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="genotype file"):
        resolve_genotype(str(bad))


def test_plan_orders_jobs_and_checks_cell_count() -> None:
    jobs = plan_evaluations(["DARTS_V2", str(PC_DARTS)], [0, 1], EvalBudget(layers=3))
    assert [(j.index, j.seed) for j in jobs] == [(0, 0), (1, 1), (2, 0), (3, 1)]
    assert jobs[0].label == "DARTS_V2" and jobs[2].genotype == str(PC_DARTS)
    four_cells = genotype_to_text(expand_genotype(DARTS_V2, 4))
    with pytest.raises(ValueError, match="has 4 cells but the budget has layers=3"):
        plan_evaluations([four_cells], [0], EvalBudget(layers=3))
    with pytest.raises(ValueError, match="distinct"):
        plan_evaluations(["DARTS_V2"], [0, 0], EvalBudget())
    with pytest.raises(ValueError, match="seeds"):
        plan_evaluations(["DARTS_V2"], [], EvalBudget())


def test_drop_path_ramps_linearly_from_zero() -> None:
    assert [drop_path_at(e, 4, 0.2) for e in range(4)] == pytest.approx([0.0, 0.05, 0.1, 0.15])


def test_auxiliary_loss_weight_by_value() -> None:
    g = torch.Generator().manual_seed(0)
    logits, aux = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    y = torch.tensor([0, 1, 2, 1, 0])
    main, side = F.cross_entropy(logits, y), F.cross_entropy(aux, y)
    assert float(evaluation_loss(logits, aux, y, 0.4)) == pytest.approx(float(main + 0.4 * side))
    assert float(evaluation_loss(logits, None, y, 0.4)) == pytest.approx(float(main))
    assert float(evaluation_loss(logits, aux, y, 0.0)) == pytest.approx(float(main))


def test_shards_are_disjoint_and_equal(toy_data: DatasetSplits) -> None:
    parts = [shard(toy_data.test, r, 3) for r in range(3)]
    assert {len(p) for p in parts} == {13}
    assert torch.equal(parts[1].images, toy_data.test.images[1:39:3])


def test_tiny_run_is_finite_reproducible_and_counts_params(toy_data: DatasetSplits) -> None:
    first = run_evaluation(DARTS_V2, 0, TINY, data=toy_data, device="cpu")
    again = run_evaluation(DARTS_V2, 0, TINY, data=toy_data, device="cpu")
    assert 0.0 <= first.test_acc <= 1.0 and math.isfinite(first.history[-1]["train_loss"])
    assert first.test_acc == again.test_acc and first.history == again.history
    net = build_network(DARTS_V2, TINY, toy_data)
    assert first.params_m == count_parameters_millions(net) > 0
    assert [h["drop_path_prob"] for h in first.history] == pytest.approx([0.0, 0.1])
    # cosine to 0 over 2 epochs: lr 0.025, then 0.025 * (1 + cos(pi / 2)) / 2
    assert [h["lr"] for h in first.history] == pytest.approx([0.025, 0.0125])
    other = run_evaluation(DARTS_V2, 1, TINY, data=toy_data, device="cpu")
    assert other.history != first.history


def test_resume_from_state_dict_repeats_the_uninterrupted_run(toy_data: DatasetSplits) -> None:
    budget = EvalBudget(C=4, layers=3, batch_size=16, max_batches=2, epochs=2, cutout_length=4)
    straight = Evaluation(DARTS_V2, 3, budget, toy_data)
    straight.train_epoch()
    state = torch.load(_saved(straight.state_dict()))  # a deep copy, as a checkpoint loads
    end = straight.train_epoch()
    resumed = Evaluation(DARTS_V2, 3, budget, toy_data)
    resumed.load_state_dict(state)
    assert resumed.epoch == 1
    assert resumed.train_epoch() == end
    assert torch.equal(resumed.test_counts(), straight.test_counts())


def _running_means(net: torch.nn.Module) -> list[torch.Tensor]:
    return [m.running_mean.clone() for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]


def test_batch_norm_recalibration_is_the_exact_mean_over_its_batches(
    toy_data: DatasetSplits,
) -> None:
    """Brute force: collect the first BatchNorm's inputs over the same seeded batches and
    compare its recomputed statistics with the per-batch mean / unbiased variance, averaged.
    The weights, BN momentum and drop-path setting are unchanged; 0 batches is a no-op."""
    budget = EvalBudget(C=4, layers=3, batch_size=16, max_batches=2, bn_recalibration_batches=3)
    run = Evaluation(DARTS_V2, 0, budget, toy_data)
    run.train_epoch()
    norm = next(m for m in run.net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    seen: list[torch.Tensor] = []
    hook = norm.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    weights = [p.detach().clone() for p in run.net.parameters()]
    run.net.drop_path_prob = 0.15
    run.recalibrate_batch_norm()
    hook.remove()
    assert len(seen) == 3
    means = torch.stack([x.mean(dim=(0, 2, 3)) for x in seen]).mean(0)
    variances = torch.stack([x.var(dim=(0, 2, 3), unbiased=True) for x in seen]).mean(0)
    assert torch.allclose(norm.running_mean, means, atol=1e-5)
    assert torch.allclose(norm.running_var, variances, rtol=1e-4, atol=1e-6)
    assert norm.momentum == 0.1 and run.net.drop_path_prob == 0.15
    assert all(torch.equal(a, b) for a, b in zip(weights, run.net.parameters(), strict=True))
    off = Evaluation(DARTS_V2, 0, replace(budget, bn_recalibration_batches=0), toy_data)
    off.train_epoch()
    before = _running_means(off.net)
    off.recalibrate_batch_norm()
    assert all(torch.equal(a, b) for a, b in zip(before, _running_means(off.net), strict=True))


def test_batch_larger_than_shard_is_an_error(toy_data: DatasetSplits) -> None:
    with pytest.raises(ValueError, match="exceeds the 48 training examples per worker"):
        Evaluation(DARTS_V2, 0, EvalBudget(C=4, layers=3, batch_size=64), toy_data, world_size=2)


def _saved(state: dict) -> object:
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--genotype", "NOPE"], "unknown genotype 'NOPE'"),
        (["--genotype", "DARTS_V2", "--seeds", "0,x"], "--seeds must be comma-separated"),
        (["--genotype", "DARTS_V2", "--epochs", "0"], "EvalBudget.epochs"),
        (["--genotype", "DARTS_V2", "--max-concurrent", "0"], "--max-concurrent"),
    ],
)
def test_cli_evaluate_bad_input_exits_2_before_ray(argv, message, tmp_path, capsys) -> None:
    import ray

    from raysearch.cli import main

    assert main(["nas", "evaluate", *argv, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not ray.is_initialized() and not (tmp_path / "evaluation.csv").exists()


def test_jobs_that_fit_the_cluster() -> None:
    from raysearch.tune.nas_evaluate import fitting_jobs

    assert fitting_jobs({"CPU": 2.0}, EvalBudget()) == 2
    assert fitting_jobs({"CPU": 16.0, "GPU": 1.0}, EvalBudget(gpus_per_worker=0.25)) == 4
    assert fitting_jobs({"CPU": 16.0, "GPU": 2.0}, EvalBudget(workers=2, gpus_per_worker=1)) == 1
    with pytest.raises(ValueError, match=r"needs 1 CPU\(s\) and 0.5 GPU\(s\).*0 GPU"):
        fitting_jobs({"CPU": 2.0}, EvalBudget(gpus_per_worker=0.5))


def test_string_label_does_not_depend_on_spelling() -> None:
    official = str(DARTS_V2).replace("[2, 3, 4, 5]", "range(2, 6)").replace("[", "(")
    official = official.replace("]", ")")
    assert resolve_genotype(official) == resolve_genotype(str(DARTS_V2))


def test_training_batches_get_the_recipe_and_test_batches_only_normalisation(
    toy_data: DatasetSplits,
) -> None:
    """augment='standard' (default): crop/flip/normalise/cutout in training, normalisation at
    test; 'none' trains on raw pixels (the behaviour before the recipe)."""
    budget = replace(TINY, cutout_length=4)
    run = Evaluation(DARTS_V2, 0, budget, toy_data)
    assert run.augmentation == augmentation("fashion-mnist-mini", cutout_length=4)
    assert run.augmentation.crop_padding == 4 and run.augmentation.flip
    seen: list[torch.Tensor] = []
    run.net.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    run.train_epoch()
    x = seen[0]
    assert float(x.min()) < -0.5  # normalised: black pixels are -mean/std, about -0.81
    run.test_counts()
    test_inputs = seen[-1]
    raw = toy_data.test.images[-len(test_inputs) :].float() / 255
    assert torch.allclose(test_inputs, (raw - 0.2860) / 0.3530, atol=1e-6)
    plain = Evaluation(DARTS_V2, 0, replace(TINY, augment="none"), toy_data)
    assert plain.augmentation == augmentation("fashion-mnist-mini", "none")
    with pytest.raises(ValueError, match="augment must be one of standard, none"):
        replace(TINY, augment="auto")
