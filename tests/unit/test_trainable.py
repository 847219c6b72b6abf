"""The Tune trainable, driven directly (no Ray cluster): metrics and checkpoint round trip."""

import ray

from raysearch.noisy.settings import TrialSettings
from raysearch.tune.trainable import CoteachingTrainable
from search_spaces.schedules import default_config


def _config(**overrides):
    settings = TrialSettings(epochs=3, max_batches_per_epoch=5, **overrides)
    return {**settings.to_config(), "schedule": default_config("coteaching", noise_rate=0.5)}


def _metrics(result):
    return {
        k: result[k]
        for k in ("epoch", "keep_rate", "train_loss", "val_acc", "test_acc", "label_precision")
    }


def test_step_reports_the_contract_metrics_and_finishes_after_the_last_epoch():
    trainable = CoteachingTrainable(config=_config())
    results = [trainable.train() for _ in range(3)]
    assert [r["epoch"] for r in results] == [1, 2, 3]
    assert [r["done"] for r in results] == [False, False, True]
    assert all(
        0.0 <= r[k] <= 1.0 for r in results for k in ("val_acc", "test_acc", "label_precision")
    )
    assert not ray.is_initialized()


def test_checkpoint_split_run_equals_uninterrupted_run(tmp_path):
    whole = CoteachingTrainable(config=_config())
    expected = [_metrics(whole.train()) for _ in range(3)]

    first = CoteachingTrainable(config=_config())
    got = [_metrics(first.train())]
    first.save_checkpoint(str(tmp_path))
    second = CoteachingTrainable(
        config=_config(seed=77)
    )  # a different seed must not matter after restore
    second.load_checkpoint(str(tmp_path))
    got += [_metrics(second.train()) for _ in range(2)]
    assert got == expected


def test_reset_config_rebuilds_the_run_for_actor_reuse():
    trainable = CoteachingTrainable(config=_config())
    trainable.train()
    assert trainable.reset_config(_config(seed=3))
    assert trainable.run.epoch == 0 and trainable.run.config.epochs == 3


def test_a_trial_restored_from_its_final_checkpoint_reports_done_without_training(tmp_path):
    trainable = CoteachingTrainable(config=_config())
    last = [_metrics(trainable.train()) for _ in range(3)][-1]
    trainable.save_checkpoint(str(tmp_path))
    restored = CoteachingTrainable(config=_config())
    restored.load_checkpoint(str(tmp_path))
    again = restored.train()
    assert again["done"] and _metrics(again) == last


def test_each_step_reports_its_end_time_as_a_float_on_the_wall_clock():
    import time

    before = time.time()
    trainable = CoteachingTrainable(config=_config())
    ends = [trainable.train()["step_end"] for _ in range(3)]
    assert all(isinstance(e, float) for e in ends)
    assert before < ends[0] < ends[1] < ends[2] <= time.time()
