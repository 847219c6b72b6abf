"""Co-teaching trials on a real local Ray: CLI, Tune checkpoints, actor reuse."""

import pytest
from ray import tune

from raysearch.cli import main
from raysearch.noisy.settings import TrialSettings
from raysearch.tune.trainable import CoteachingTrainable
from search_spaces.schedules import default_config

pytestmark = pytest.mark.slow
METRICS = ("epoch", "keep_rate", "val_acc", "test_acc", "label_precision")


def _config(seed=0, epochs=3):
    settings = TrialSettings(epochs=epochs, max_batches_per_epoch=4, seed=seed)
    return {**settings.to_config(), "schedule": default_config("coteaching", noise_rate=0.5)}


def _row(result):
    return tuple(result[k] for k in METRICS)


def _direct(config):
    trainable = CoteachingTrainable(config=config)
    return [_row(trainable.train()) for _ in range(config["epochs"])]


def test_cli_trial_prints_every_epoch(local_ray, tmp_path, capsys):
    code = main(["trial", "--epochs", "2", "--noise", "pair:0.45", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "epoch=1" in out and "epoch=2" in out and "final: test_acc=" in out


def test_cli_rejects_bad_input_before_ray_work(tmp_path, capsys):
    assert main(["trial", "--noise", "pair:0.6", "--out", str(tmp_path)]) == 2
    assert "pair noise rate must be in [0, 0.5)" in capsys.readouterr().err
    assert (
        main(["trial", "--schedule", '{"family": "coteaching", "tau": 2}', "--out", str(tmp_path)])
        == 2
    )
    assert main(["trial", "--dataset", "svhn", "--out", str(tmp_path)]) == 2
    assert not list(tmp_path.iterdir())  # nothing was started or written


def test_actor_reuse_does_not_leak_state_between_trials(local_ray, tmp_path):
    tuner = tune.Tuner(
        tune.with_resources(CoteachingTrainable, {"cpu": 1}),
        param_space={**_config(), "seed": tune.grid_search([0, 1, 2])},
        tune_config=tune.TuneConfig(reuse_actors=True, max_concurrent_trials=1),
        run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0),
    )
    grid = tuner.fit()
    assert not grid.errors
    for result in grid:
        frame = result.metrics_dataframe
        got = [_row(row) for _, row in frame.iterrows()]
        assert got == _direct(result.config)


def test_tune_checkpoint_restores_into_a_fresh_trainable(local_ray, tmp_path):
    tuner = tune.Tuner(
        tune.with_resources(CoteachingTrainable, {"cpu": 1}),
        param_space=_config(),
        run_config=tune.RunConfig(
            storage_path=str(tmp_path), verbose=0, stop={"training_iteration": 1},
            checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=True),
        ),
    )  # fmt: skip
    result = tuner.fit()[0]
    resumed = CoteachingTrainable(config=_config())
    resumed.restore(result.checkpoint)
    tail = [_row(resumed.train()) for _ in range(2)]
    assert tail == _direct(_config())[1:]
