"""``raysearch reweight`` on a real local Ray: one Tune trial per seed, checkpoints, bad input."""

import pandas as pd
import pytest
from ray import tune

from raysearch.cli import main
from raysearch.reweight.settings import ReweightSettings
from raysearch.tune.reweight_trainable import ReweightTrainable

pytestmark = pytest.mark.slow
TINY = {"imbalance": 20.0, "noise": "symmetric:0.2", "batch_size": 32, "max_batches_per_epoch": 2}
METRICS = ("epoch", "val_acc", "test_acc", "rare_class_acc", "test_acc_w2")


def _config(epochs=1, seed=0):
    return ReweightSettings(method="lfm", epochs=epochs, seed=seed, **TINY).to_config()


def _direct(config):
    trainable = ReweightTrainable(config=config)
    return [
        {k: r[k] for k in METRICS} for r in (trainable.train() for _ in range(config["epochs"]))
    ]


def test_cli_runs_each_seed_as_a_trial_and_matches_direct_runs(local_ray, tmp_path, capsys):
    code = main(
        ["reweight", "--method", "lfm", "--imbalance", "20", "--noise", "symmetric:0.2",
         "--epochs", "1", "--batch-size", "32", "--max-batches-per-epoch", "2",
         "--seeds", "0,1", "--out", str(tmp_path)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "method=lfm" in out and "mean " in out and "±" in out
    frame = pd.read_csv(tmp_path / "reweight_lfm.csv")
    assert frame.seed.tolist() == [0, 1]
    assert {f"class_acc/{c}" for c in range(10)} <= set(frame.columns)
    for _, row in frame.iterrows():
        expected = _direct(_config(seed=int(row.seed)))[-1]
        assert row.test_acc == pytest.approx(expected["test_acc"])
        assert row.rare_class_acc == pytest.approx(expected["rare_class_acc"])
        assert row.rare_class_acc == pytest.approx(row["class_acc/9"])  # class 9 is the tail


def test_tune_checkpoint_restores_into_a_fresh_trainable(local_ray, tmp_path):
    tuner = tune.Tuner(
        tune.with_resources(ReweightTrainable, {"cpu": 1}),
        param_space=_config(epochs=2),
        run_config=tune.RunConfig(
            storage_path=str(tmp_path), verbose=0, stop={"training_iteration": 1},
            checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=True),
        ),
    )  # fmt: skip
    result = tuner.fit()[0]
    resumed = ReweightTrainable(config=_config(epochs=2))
    resumed.restore(result.checkpoint)
    tail = resumed.train()
    assert {k: tail[k] for k in METRICS} == _direct(_config(epochs=2))[1]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--imbalance", "0.5"], "imbalance factor must be a finite number >= 1"),
        (["--method", "focal"], "unknown reweighting method 'focal'"),
        (["--seeds", "0,x"], "--seeds must be comma-separated integers"),
        (["--noise", "pair:0.7"], "pair noise rate must be in [0, 0.5)"),
    ],
)
def test_cli_rejects_bad_input_before_ray_work(tmp_path, capsys, args, message):
    assert main(["reweight", *args, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
