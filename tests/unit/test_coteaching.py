import math

import pytest
import torch
import torch.nn.functional as F

from raysearch.noisy import (
    CoteachingConfig,
    CoteachingRun,
    NoisyData,
    check_schedule,
    coteaching_losses,
    num_kept,
)
from tests.conftest import synthetic_split


def test_each_net_learns_from_the_small_loss_samples_its_peer_picked():
    g = torch.Generator().manual_seed(0)
    logits1, logits2 = torch.randn(12, 5, generator=g), torch.randn(12, 5, generator=g)
    labels = torch.randint(0, 5, (12,), generator=g)
    loss1, loss2, picked1, picked2 = coteaching_losses(logits1, logits2, labels, keep=4)
    per_sample1 = [F.cross_entropy(logits1[i : i + 1], labels[i : i + 1]).item() for i in range(12)]
    per_sample2 = [F.cross_entropy(logits2[i : i + 1], labels[i : i + 1]).item() for i in range(12)]
    brute1 = sorted(range(12), key=per_sample1.__getitem__)[:4]
    brute2 = sorted(range(12), key=per_sample2.__getitem__)[:4]
    assert sorted(picked1.tolist()) == sorted(brute1) and sorted(picked2.tolist()) == sorted(brute2)
    assert math.isclose(loss1.item(), sum(per_sample1[i] for i in brute2) / 4, rel_tol=1e-5)
    assert math.isclose(loss2.item(), sum(per_sample2[i] for i in brute1) / 4, rel_tol=1e-5)


def test_num_kept_is_floor_of_rate_times_batch_and_at_least_one():
    assert [num_kept(r, 128) for r in (1.0, 0.5, 0.55, 0.0)] == [128, 64, 70, 1]


@pytest.mark.parametrize("bad", [1.2, -0.1, float("nan")])
def test_schedule_outside_unit_interval_is_rejected_naming_epoch_and_value(bad):
    with pytest.raises(ValueError, match=r"R\(3\)"):
        check_schedule(lambda t: bad if t == 3 else 1.0, 5)


def test_optimizer_plan_is_the_papers_linear_decay_from_epoch_80_of_200():
    config = CoteachingConfig(epochs=200)
    assert config.decay_epoch == 80
    assert config.lr_and_beta1(79) == (1e-3, 0.9)
    assert config.lr_and_beta1(80) == (1e-3, 0.1)
    assert math.isclose(config.lr_and_beta1(140)[0], 1e-3 * 60 / 120)
    assert math.isclose(config.lr_and_beta1(199)[0], 1e-3 / 120)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"epochs": 0},
        {"epochs": 5, "batch_size": 1},
        {"epochs": 5, "lr": 0.0},
        {"epochs": 5, "decay_start": 9},
    ],
)
def test_bad_training_settings_are_rejected(kwargs):
    with pytest.raises(ValueError):
        CoteachingConfig(**kwargs)


def _toy_data(noise_every: int = 3) -> NoisyData:
    train, val, test = (synthetic_split(n, seed=s, size=16) for n, s in ((96, 0), (32, 1), (32, 2)))
    noisy = train.labels.clone()
    noisy[::noise_every] = (noisy[::noise_every] + 1) % 4
    return NoisyData(train.with_labels(noisy), val, test, noisy == train.labels, 4)


def _metrics(run, epochs):
    return [run.train_epoch().as_dict() for _ in range(epochs)]


def test_checkpoint_restore_gives_the_same_metrics_as_an_uninterrupted_run():
    config = CoteachingConfig(epochs=4, batch_size=16)
    schedule = lambda t: 1.0 - 0.3 * min(t / 2, 1)  # noqa: E731
    whole = _metrics(CoteachingRun(_toy_data(), schedule, config, model="lenet", seed=5), 4)

    first = CoteachingRun(_toy_data(), schedule, config, model="lenet", seed=5)
    part1 = _metrics(first, 2)
    state = first.state_dict()
    torch.manual_seed(123)  # disturb the global RNG the restored run must not depend on
    second = CoteachingRun(_toy_data(), schedule, config, model="lenet", seed=99)
    second.load_state_dict(state)
    assert part1 + _metrics(second, 2) == whole


def test_standard_training_keeps_everything_and_precision_equals_the_clean_share():
    data = _toy_data()
    run = CoteachingRun(data, lambda t: 1.0, CoteachingConfig(epochs=1, batch_size=96), model="mlp")
    metrics = run.train_epoch()
    assert metrics.keep_rate == 1.0 and metrics.epoch == 1
    assert math.isclose(metrics.label_precision, float(data.clean_train.double().mean()))


def test_small_loss_selection_raises_label_precision_above_the_clean_share():
    data = _toy_data()
    run = CoteachingRun(
        data,
        lambda t: 1.0 if t < 3 else 0.5,
        CoteachingConfig(epochs=8, batch_size=16),
        model="mlp",
    )
    precision = [run.train_epoch().label_precision for _ in range(8)]
    clean_share = float(data.clean_train.float().mean())
    assert precision[-1] > clean_share + 0.2


def test_finished_run_refuses_another_epoch():
    run = CoteachingRun(_toy_data(), lambda t: 1.0, CoteachingConfig(epochs=1, batch_size=32))
    run.train_epoch()
    with pytest.raises(RuntimeError, match="already trained"):
        run.train_epoch()


def test_fused_adam_of_the_run_takes_the_same_steps_as_plain_adam():
    """CoteachingRun uses fused Adam for speed; the update must equal torch's reference Adam."""
    torch.manual_seed(0)
    nets = [torch.nn.Linear(6, 3) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    initial = nets[0].weight.detach().clone()
    opts = [
        torch.optim.Adam(nets[0].parameters(), lr=1e-2, fused=True),
        torch.optim.Adam(nets[1].parameters(), lr=1e-2, foreach=False, fused=False),
    ]
    for step in range(5):
        x = torch.randn(8, 6, generator=torch.Generator().manual_seed(step))
        for net, opt in zip(nets, opts, strict=True):
            for group in opt.param_groups:  # the run's beta1 switch mid-training
                group["betas"] = (0.1 if step >= 3 else 0.9, group["betas"][1])
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert (nets[0].weight - initial).abs().max() > 1e-3  # the steps did move the weights
