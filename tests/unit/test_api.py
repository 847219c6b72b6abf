"""``raysearch.api``: the supported names exist, ``__all__`` lists exactly them, every one has a
docstring example that runs, importing the module imports no Ray, and bad input to the
helpers is refused before any Ray work."""

import doctest
import inspect
import subprocess
import sys
from types import SimpleNamespace

import pandas as pd
import pytest

import raysearch.api as api
from raysearch.tune.s2e_searcher import S2ESearcher

EXPECTED = {"S2ESearcher", "searcher_names", "make_search", "compare", "load_results",
            "family_names", "get_family", "default_config"}  # fmt: skip


def test_all_lists_exactly_the_supported_names():
    assert set(api.__all__) == EXPECTED
    assert len(api.__all__) == len(EXPECTED)
    assert set(dir(api)) >= EXPECTED
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        api.nope  # noqa: B018


def test_s2e_searcher_is_the_tune_searcher_itself():
    assert api.S2ESearcher is S2ESearcher


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_name_has_a_docstring_with_an_example(name):
    doc = inspect.getdoc(getattr(api, name)) or ""
    assert "Example" in doc and ">>> " in doc, f"{name} has no example"
    assert "from raysearch.api import" in doc or "raysearch.api as" in doc


def test_the_examples_run():
    finder = doctest.DocTestFinder()
    tests = [t for name in sorted(EXPECTED) for t in finder.find(getattr(api, name), name)]
    tests += finder.find(api, "raysearch.api")[:1]  # the module docstring
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests:
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0
    assert results.attempted >= 10


def test_importing_the_api_imports_no_ray_or_torch():
    code = (
        "import sys, raysearch.api; print(sorted(m for m in ('ray', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_schedule_families():
    assert api.family_names()[:2] == ["s2e", "coteaching"]
    config = api.default_config("coteaching", noise_rate=0.3)
    assert config == {"family": "coteaching", "tau": 0.3, "t_k": 10.0, "c": 1.0}
    values = api.get_family("constant").values({"keep": 0.8}, 5)
    assert values.tolist() == [0.8] * 5
    with pytest.raises(KeyError, match="unknown schedule family 'nope'; registered families: s2e"):
        api.get_family("nope")


def test_make_search_builds_the_registry_strategy():
    setup = api.make_search("hyperband", trials=4, epochs=3, metric="score")
    assert setup.scheduler is not None and setup.budget is not None
    s2e = api.make_search("s2e", trials=8, epochs=3, metric="score", samples_per_iter=4)
    assert isinstance(s2e.search_alg.searcher, S2ESearcher)  # inside a ConcurrencyLimiter
    assert s2e.search_alg.searcher.samples_per_iter == 4 and s2e.num_samples == 8
    with pytest.raises(KeyError, match=r"unknown or unavailable searcher\(s\) \['nope'\]"):
        api.make_search("nope", trials=4, epochs=3)


@pytest.fixture
def no_ray_run(monkeypatch):
    import raysearch.tune.compare as compare_module

    def fail(*args, **kwargs):
        pytest.fail("run_compare was reached: the error came after validation")

    monkeypatch.setattr(compare_module, "run_compare", fail)


def test_compare_refuses_a_repeated_searcher(no_ray_run):
    with pytest.raises(ValueError, match=r"searcher\(s\) \['s2e'\] given more than once"):
        api.compare(searchers=["s2e", "random", "s2e"])


def test_compare_refuses_an_unknown_option_listing_the_allowed(no_ray_run):
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['epoch'\]; allowed: .*'epochs'"):
        api.compare(searchers=["random"], epoch=3)


def test_compare_routes_options_to_the_two_settings(monkeypatch, tmp_path):
    import raysearch.tune.compare as compare_module

    seen = {}

    def fake_run(settings, **kwargs):
        seen.update(settings=settings, **kwargs)
        return pd.DataFrame()

    monkeypatch.setattr(compare_module, "run_compare", fake_run)
    api.compare(searchers=["s2e", "random"], epochs=3, noise="pair:0.4", trials=5, seeds=1,
                samples_per_iter=2, out=str(tmp_path / "c"), experiments_at_once=1)  # fmt: skip
    settings = seen["settings"]
    assert (settings.trial.epochs, settings.trial.noise) == (3, "pair:0.4")
    assert (settings.trials, settings.seeds, settings.samples_per_iter) == (5, 1, 2)
    assert settings.searchers == ("s2e", "random")
    assert settings.out == str(tmp_path / "c")
    assert seen["experiments_at_once"] == 1 and seen["resume"] is False


def _result(config, metrics, epochs, error=None):
    return SimpleNamespace(config=config, metrics=metrics, metrics_dataframe=epochs, error=error)


class _Grid(list):
    def get_dataframe(self):  # what makes it a ResultGrid to load_results
        raise AssertionError("not used")


def test_load_results_of_a_result_grid_flattens_configs_and_keeps_errors():
    epochs = pd.DataFrame({"score": [0.1, 0.4], "epoch": [1, 2], "config/lr": [0.01, 0.01]})
    grid = _Grid([
        _result({"lr": 0.01, "net": {"width": 8}}, {"score": 0.4, "epoch": 2, "config": {}}, epochs),
        _result({"lr": 0.1, "net": {"width": 4}}, {}, None, error=RuntimeError("boom")),
    ])  # fmt: skip
    final = api.load_results(grid)
    assert final["config/lr"].tolist() == [0.01, 0.1]
    assert final["config/net/width"].tolist() == [8, 4]
    assert final["score"].iloc[0] == 0.4 and pd.isna(final["score"].iloc[1])
    assert final["error"].tolist() == [None, "boom"]
    assert "config" not in final
    long = api.load_results(grid, per_epoch=True)
    assert long["score"].tolist()[:2] == [0.1, 0.4]
    assert long["config/lr"].tolist() == [0.01, 0.01, 0.1]


def test_load_results_refuses_other_objects():
    with pytest.raises(TypeError, match="results folder .* or a Tune ResultGrid, got int"):
        api.load_results(3)


def test_load_results_of_an_empty_folder_names_what_it_expects(tmp_path):
    with pytest.raises((ValueError, FileNotFoundError), match="holds no raysearch results"):
        api.load_results(tmp_path)


def _tune_trial(experiment, name, accs, *, seed, start):
    import json

    folder = experiment / name
    folder.mkdir(parents=True)
    config = {"seed": seed, "schedule": {"family": "constant", "keep": 1.0}}
    (folder / "params.json").write_text(json.dumps(config))
    rows = [{"trial_id": name, "timestamp": start + ep, "epoch": ep, "val_acc": acc,
             "test_acc": acc + 0.3, "label_precision": 0.8, "config": config}
            for ep, acc in enumerate(accs, start=1)]  # fmt: skip
    (folder / "result.json").write_text("\n".join(json.dumps(r) for r in rows))


def test_load_results_of_a_compare_folder_is_one_row_per_trial_or_per_epoch(tmp_path):
    _tune_trial(tmp_path / "tune" / "s2e-seed0", "a", [0.3, 0.5], seed=0, start=10)
    _tune_trial(tmp_path / "tune" / "s2e-seed0", "b", [0.2, 0.6], seed=0, start=0)
    _tune_trial(tmp_path / "tune" / "random-seed1", "c", [0.4, 0.45], seed=1, start=0)
    trials = api.load_results(tmp_path).set_index("trial_id")
    assert sorted(trials.index) == ["a", "b", "c"]
    assert trials.loc["a", "val_acc"] == 0.5 and trials.loc["b", "trial_order"] == 1
    assert trials.loc["c", "searcher"] == "random" and trials.loc["c", "seed"] == 1
    epochs = api.load_results(str(tmp_path), per_epoch=True)
    assert len(epochs) == 6 and set(epochs["epoch"]) == {1, 2}
