"""The §8.3 / §8.1 benchmark's pieces: the softmax-GD baseline is XNAS eqs. (5)-(6), the
late-bloomer toy behaves as §8.1 describes, and wipeout never changes the final selection."""

from __future__ import annotations

import torch

from benchmarks.xnas_experts import Setup, SoftmaxGD, late_bloomer_toy, simulate

torch.set_num_threads(1)


def test_softmax_gd_step_is_autograd_descent_on_alpha() -> None:
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    gd = SoftmaxGD(5, 4, lr=0.3, grad_bound=10.0)
    gd.alpha = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    alpha = gd.alpha.clone().requires_grad_(True)
    u = torch.softmax(alpha, dim=1)
    loss = 0.5 * ((u - target) ** 2).sum()
    (g_u,) = torch.autograd.grad(loss, u, retain_graph=True)
    (g_alpha,) = torch.autograd.grad(loss, alpha)
    gd.update(g_u)
    assert torch.allclose(gd.alpha, alpha.detach() - 0.3 * g_alpha, rtol=1e-13, atol=1e-15)


def test_late_bloomer_toy_follows_section_8_1() -> None:
    toy = late_bloomer_toy(lr=0.1)
    xnas, plain, gd = toy["xnas"], toy["xnas_nowipe"], toy["gd_softmax"]
    assert xnas.shape == (121, 3)
    assert xnas[60, 1] == xnas[60].max()  # "in the meanwhile, the y axis takes the lead"
    assert xnas[-1].tolist() == [0.0, 0.0, 1.0]  # x, y wiped by t = T; z recovered
    assert plain[-1, 2] == plain[-1].max() and plain[-1, 2] > gd[-1, 2]
    # XNAS' reward for z is the constant gradient (eq. (47)); GD's is attenuated (eq. (44))
    assert toy["xnas_zupdate"][:30].eq(-2).all() and toy["xnas_zupdate"][30:].eq(2).all()
    assert (toy["gd_softmax_zupdate"].abs() < 0.5).all()


def test_wipeout_keeps_the_final_selection_and_xnas_beats_gd_at_equal_lr() -> None:
    s = Setup(experts=6, sigma=4.0, steps=100, runs=400, lr=1.0, seed=1)
    res = simulate(s, methods=("xnas", "xnas_nowipe", "gd_softmax"))
    assert torch.equal(res["xnas"]["correct"], res["xnas_nowipe"]["correct"])  # Lemma 1
    assert res["xnas"]["alive"][-1] < res["xnas_nowipe"]["alive"][-1] == 6
    assert res["xnas"]["correct"][-1] > res["gd_softmax"]["correct"][-1]
    assert res["xnas"]["regret"][-1] < res["gd_softmax"]["regret"][-1]
