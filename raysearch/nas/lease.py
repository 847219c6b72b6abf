"""LeaSE: learning by self-explanation (Hosseini & Xie, arXiv 2012.12899) around a base method.

The explainer is the base method's supernet (architecture A, weights E); the audience is a
fixed-architecture net with weights W. One step, following Algorithm 1 with the one-step unrolls
of Sec. 4:

1. E' = E - xi_e grad_E L(E, A, D_tr) (eq. (6)), as a virtual step of E's own SGD.
2. The explanation, eq. (7): Delta' = Delta + xi_Delta grad_Delta O_Delta with
   O_Delta = sum_i CE(f(x_i + delta_i; E'), f(x_i; E')) (eq. (2), soft targets). Eq. (2) is a
   maximisation, so we ascend (eq. (7) prints a descent sign). Delta = {delta_i} is a variable of
   Algorithm 1 (step 2 updates it): ``explanations="kept"`` (default) stores one delta_i per
   training example, started at the "small random perturbation" of Sec. 3.1 (uniform in
   [-epsilon, epsilon]; at Delta = 0 the gradient vanishes) and replaced by delta'_i at every
   visit, so training batches carry their example indices ``(x, y, indices)``;
   ``"redrawn"`` draws a fresh Delta_0 every step (the behaviour before).
3. W' = W - xi_W grad_W O_W (eq. (8)). ``audience_input="reweighted"`` (default) is eq. (3): the
   audience learns from the pixel-reweighted images delta'_i * x_i; ``"perturbed"`` (the
   behaviour before) trains it on the original and the perturbed examples, O_W = mean CE over
   {x_i} and {x_i + delta'_i}.
4. A <- A - eta (grad_A L(E', D_val) + gamma grad_A L(W', D_val)) (eq. (9)). The first term is
   the base method's own architecture gradient (DARTS eq. (7)/(10)-(11) for order 2, first
   order for DARTS-1st, the u-gradient of XNAS); the second goes back through W', Delta' and E'
   (eqs. (12)-(17)), every mixed second derivative by the central difference of eq. (11). We add
   the direct dependence of Delta' on A (the explainer's forward uses A), which the chain of
   eqs. (12)-(17) leaves out; with a first-order base (E' treated as fixed in A) it is the whole
   audience term. The update is the base's own (Adam on alpha, XNAS' EG step on u).

Then the real steps: E on the training batch (the base's weight step) and W on the audience
batch built from Delta'. Defaults from Sec. 5: gamma = 1, audience SGD lr 0.025 (cosine),
momentum 0.9, weight decay 3e-4; audience a small ResNet-18 (width 8; the paper: ResNet-18/50).
The paper is silent on xi_Delta and epsilon; we chose ``explain_lr=1.0`` and ``epsilon=0.03``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from raysearch.models.resnet import ResNet18
from raysearch.nas.darts import Darts
from raysearch.nas.hypergrad import BaseArch, ModuleWrapper, finite_difference_hvp, unroll
from raysearch.nas.supernet import SuperNet
from raysearch.nas.unrolled import Batch, FunctionalLoss
from raysearch.nas.weight_learner import SGDOptions, WeightLearner, accuracy
from raysearch.nas.xnas import XNAS
from search_spaces.darts import Genotype

AUDIENCE_INPUTS = ("reweighted", "perturbed")
EXPLANATIONS = ("kept", "redrawn")


def logits_at(model: FunctionalLoss, values: Sequence[Tensor], inputs: Tensor) -> Tensor:
    """``model``'s logits with its parameters replaced by ``values`` (buffers copied)."""
    state = dict(zip(model.names, values, strict=True))
    state.update((name, buffer.clone()) for name, buffer in model.buffers.items())
    return functional_call(model.model, state, (inputs,))


def explanation_objective(
    explainer: FunctionalLoss, values: Sequence[Tensor], inputs: Tensor, delta: Tensor
) -> Tensor:
    """O_Delta of LeaSE eq. (7): sum_i CE(f(x_i + delta_i; E), softmax f(x_i; E)) (eq. (2))."""
    target = torch.softmax(logits_at(explainer, values, inputs), dim=1)
    perturbed = logits_at(explainer, values, inputs + delta)
    return F.cross_entropy(perturbed, target, reduction="sum")


def audience_batch(batch: Batch, delta: Tensor, mode: str) -> Batch:
    """The audience's training batch from the explanation Delta (see the module docstring)."""
    inputs, labels = batch
    if mode == "perturbed":
        return torch.cat([inputs, inputs + delta]), torch.cat([labels, labels])
    if mode == "reweighted":
        return delta * inputs, labels  # LeaSE eq. (3)
    raise ValueError(f"audience_input must be one of {list(AUDIENCE_INPUTS)}, got {mode!r}")


@dataclass
class AudienceGradient:
    """The gamma-free audience term of eq. (9) and what the step reuses."""

    arch: list[Tensor]  # d L(W', D_val) / dA
    delta: Tensor  # Delta' of eq. (7), detached
    val_loss: Tensor
    val_logits: Tensor


def audience_arch_gradient(
    *,
    explainer: FunctionalLoss,
    explainer_learner: WeightLearner,
    arch: Sequence[Tensor],
    audience: FunctionalLoss,
    audience_learner: WeightLearner,
    train_batch: Batch,
    val_batch: Batch,
    delta0: Tensor,
    explain_lr: float,
    audience_input: str = "reweighted",
    second_order: bool = True,
    epsilon_scale: float = 0.01,
) -> AudienceGradient:
    """grad_A L(W'(Delta'(E'(A), A)), D_val), LeaSE eqs. (12)-(17) by finite differences
    (eq. (11)) through the unrolls of eqs. (6)-(8); ``second_order=False`` keeps E' fixed in A."""
    arch = list(arch)
    inputs = train_batch[0]
    e_now = [p.detach() for p in explainer.params]
    e_next = unroll(
        explainer(explainer.params, train_batch)[0], explainer.params, explainer_learner
    )

    delta = delta0.detach().requires_grad_()
    ascent = torch.autograd.grad(explanation_objective(explainer, e_next, inputs, delta), delta)[0]
    delta_next = (delta0.detach() + explain_lr * ascent).requires_grad_()

    def audience_loss(values: Sequence[Tensor], d: Tensor) -> Tensor:
        return audience(values, audience_batch(train_batch, d, audience_input))[0]

    w_now = [p.detach() for p in audience.params]
    w_next = unroll(audience_loss(audience.params, delta_next), audience.params, audience_learner)
    val_loss, val_logits = audience(w_next, val_batch)
    g_w = torch.autograd.grad(val_loss, w_next, materialize_grads=True)
    # dW'/dDelta' (eq. (13)): -xi_W grad2_{Delta,W} O_W . g_w
    (h_delta,) = finite_difference_hvp(
        lambda w: audience_loss(w, delta_next), w_now, [delta_next], g_w,
        epsilon_scale=epsilon_scale,
    )  # fmt: skip
    v_delta = -audience_learner.lr * h_delta
    # dDelta'/d(A, E') (eq. (15), ascent sign): xi_Delta grad2_{(A,E'),Delta} O_Delta . v_delta
    wrt = [*arch, *e_next] if second_order else arch
    h = finite_difference_hvp(
        lambda d: explanation_objective(explainer, e_next, inputs, d[0]),
        [delta0.detach()], wrt, [v_delta], epsilon_scale=epsilon_scale,
    )  # fmt: skip
    grads = [explain_lr * g for g in h[: len(arch)]]
    if second_order:  # dE'/dA (eq. (17)): -xi_e grad2_{A,E} L_tr . v_e
        v_e = [explain_lr * g for g in h[len(arch) :]]
        h_a = finite_difference_hvp(
            lambda e: explainer(e, train_batch)[0], e_now, arch, v_e, epsilon_scale=epsilon_scale
        )
        grads = [g - explainer_learner.lr * x for g, x in zip(grads, h_a, strict=True)]
    return AudienceGradient(grads, delta_next.detach(), val_loss.detach(), val_logits.detach())


class ExplanationTable:
    """Delta = {delta_i} of LeaSE eq. (2): one perturbation per training example (its index in
    the training split), kept across steps on the CPU and grown as new indices appear."""

    def __init__(self) -> None:
        self.values: Tensor | None = None  # [examples, C, H, W]
        self.known: Tensor = torch.zeros(0, dtype=torch.bool)

    def get(self, indices: Tensor, inputs: Tensor, start: Callable[[Tensor], Tensor]) -> Tensor:
        """delta_i for ``indices`` (rows of ``inputs``); ``start(inputs[rows])`` for the rows
        seen the first time."""
        self._grow(int(indices.max()) + 1, inputs)
        assert self.values is not None
        new = ~self.known[indices]
        if bool(new.any()):
            self.values[indices[new]] = start(inputs[new.to(inputs.device)]).detach().cpu()
            self.known[indices[new]] = True
        return self.values[indices].to(device=inputs.device, dtype=inputs.dtype)

    def put(self, indices: Tensor, delta: Tensor) -> None:
        """Replace delta_i by the updated delta'_i (Algorithm 1, step 2)."""
        assert self.values is not None
        self.values[indices] = delta.detach().to("cpu", self.values.dtype)

    def _grow(self, size: int, inputs: Tensor) -> None:
        if self.values is None:
            self.values = torch.zeros((0, *inputs.shape[1:]), dtype=inputs.dtype)
        if size > len(self.values):
            extra = size - len(self.values)
            self.values = torch.cat(
                [self.values, self.values.new_zeros((extra, *self.values.shape[1:]))]
            )
            self.known = torch.cat([self.known, torch.zeros(extra, dtype=torch.bool)])

    def state_dict(self) -> dict[str, Tensor | None]:
        return {"values": self.values, "known": self.known}

    def load_state_dict(self, state: dict[str, Tensor | None]) -> None:
        values, known = state["values"], state["known"]
        self.values = None if values is None else values.clone()
        self.known = torch.zeros(0, dtype=torch.bool) if known is None else known.clone()


def default_audience(supernet: SuperNet) -> nn.Module:
    """A small ResNet-18 (width 8) for the supernet's input channels and classes."""
    stem = supernet.stem[0]
    assert isinstance(stem, nn.Conv2d)
    return ResNet18(
        in_channels=stem.in_channels,
        num_classes=supernet.classifier.out_features,
        image_size=0,
        width=8,
    )


class LeaSE:
    """LeaSE around ``base`` (:class:`Darts` order 1/2 or :class:`XNAS`):
    ``step(train_batch, val_batch) -> metrics`` (Algorithm 1). ``KEYWORDS`` are LeaSE's own;
    ``epochs`` is shared with the base."""

    KEYWORDS = (
        "audience", "gamma", "explain_lr", "epsilon", "audience_input", "audience_options",
        "explanations", "seed",
    )  # fmt: skip

    @staticmethod
    def base_defaults(base: str) -> dict[str, Any]:
        """LeaSE keeps the base method's own defaults (Sec. 5: those of DARTS)."""
        del base
        return {}

    def __init__(
        self,
        base: Darts | XNAS,
        *,
        audience: nn.Module | Callable[[], nn.Module] | None = None,
        gamma: float = 1.0,
        explain_lr: float = 1.0,
        epsilon: float = 0.03,
        audience_input: str = "reweighted",
        explanations: str = "kept",
        audience_options: SGDOptions | Mapping[str, float] | None = None,
        epochs: int = 50,
        seed: int = 0,
        wrap_module: ModuleWrapper | None = None,
    ) -> None:
        if audience_input not in AUDIENCE_INPUTS:
            raise ValueError(
                f"audience_input must be one of {list(AUDIENCE_INPUTS)}, got {audience_input!r}"
            )
        if explanations not in EXPLANATIONS:
            raise ValueError(
                f"explanations must be one of {list(EXPLANATIONS)}, got {explanations!r}"
            )
        if gamma < 0 or epsilon < 0 or explain_lr < 0:
            raise ValueError(
                f"gamma, epsilon and explain_lr must be >= 0, got {gamma}, {epsilon}, {explain_lr}"
            )
        self.arch = BaseArch(base)
        self.base = base
        self.weights: WeightLearner = base.weights  # E: the base's weight learner
        alpha = base.supernet.alpha_normal
        if audience is None:
            audience = default_audience(base.supernet).to(alpha.dtype)
        elif not isinstance(audience, nn.Module):
            audience = audience()
        self.audience = audience.to(alpha.device)
        forward = wrap_module(self.audience) if wrap_module is not None else self.audience
        self.audience_learner = WeightLearner(
            list(self.audience.parameters()), forward, SGDOptions.of(audience_options),
            epochs=epochs,
        )  # fmt: skip
        self.gamma = gamma
        self.explain_lr = explain_lr
        self.epsilon = epsilon
        self.audience_input = audience_input
        self.explanations = explanations
        self.generator = torch.Generator().manual_seed(seed)
        self.delta = ExplanationTable()
        self.num_steps = 0

    @property
    def supernet(self) -> SuperNet:
        return self.base.supernet

    def initial_delta(self, inputs: Tensor) -> Tensor:
        """Delta_0: uniform in [-epsilon, epsilon] (the random start of Sec. 3.1)."""
        noise = torch.rand(inputs.shape, generator=self.generator, dtype=inputs.dtype)
        return ((2 * noise - 1) * self.epsilon).to(inputs.device)

    def current_delta(self, inputs: Tensor, indices: Tensor | None) -> Tensor:
        """Delta of this batch: the kept delta_i (Delta_0 at a first visit), or a fresh Delta_0."""
        if self.explanations == "redrawn":
            return self.initial_delta(inputs)
        if indices is None:
            raise ValueError(
                "LeaSE with explanations='kept' keeps one delta_i per training example "
                "(Algorithm 1): pass training batches as (inputs, labels, indices), or use "
                "explanations='redrawn'"
            )
        return self.delta.get(indices, inputs, self.initial_delta)

    def step(self, train_batch: Sequence[Tensor], val_batch: Sequence[Tensor]) -> dict[str, float]:
        """Eq. (9) on the architecture, then the explainer's and the audience's weight steps;
        ``train_batch`` is ``(inputs, labels)`` or ``(inputs, labels, example indices)``."""
        self.supernet.train()
        self.audience.train()
        device = self.supernet.alpha_normal.device
        indices = train_batch[2].cpu() if len(train_batch) > 2 else None
        train_batch = (train_batch[0].to(device), train_batch[1].to(device))
        val_batch = (val_batch[0].to(device), val_batch[1].to(device))
        lr = self.base.lr
        grads, val_loss, val_logits = self.arch.gradients(train_batch, val_batch)
        found = audience_arch_gradient(
            explainer=FunctionalLoss(self.supernet),
            explainer_learner=self.base.weights,
            arch=self.arch.inputs(),
            audience=FunctionalLoss(self.audience),
            audience_learner=self.audience_learner,
            train_batch=train_batch,
            val_batch=val_batch,
            delta0=self.current_delta(train_batch[0], indices),
            explain_lr=self.explain_lr,
            audience_input=self.audience_input,
            second_order=self.arch.second_order,
        )
        if indices is not None and self.explanations == "kept":
            self.delta.put(indices, found.delta)
        self.arch.apply([g + self.gamma * a for g, a in zip(grads, found.arch, strict=True)])
        train_loss, train_acc = self.base.weight_step(train_batch)
        aud_loss, _ = self.audience_learner.step(
            audience_batch(train_batch, found.delta, self.audience_input)
        )
        self.num_steps += 1
        return {
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": float(val_loss),
            "val_acc": accuracy(val_logits, val_batch[1]),
            "lr": lr,
            "audience_train_loss": aud_loss,
            "audience_val_loss": float(found.val_loss),
            "audience_val_acc": accuracy(found.val_logits, val_batch[1]),
        }

    def epoch_end(self) -> None:
        self.base.epoch_end()
        self.audience_learner.epoch_end()

    def genotype(self) -> Genotype:
        return self.base.genotype()

    def arch_tensors(self) -> list[Tensor]:
        return self.base.arch_tensors()

    def state_dict(self) -> dict[str, Any]:
        """The base's state, the audience and its optimiser, the Delta_0 generator, the step."""
        return {
            "base": self.base.state_dict(),
            "audience": self.audience.state_dict(),
            "audience_learner": self.audience_learner.state_dict(),
            "generator": self.generator.get_state(),
            "delta": self.delta.state_dict(),
            "num_steps": self.num_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.base.load_state_dict(state["base"])
        self.audience.load_state_dict(state["audience"])
        self.audience_learner.load_state_dict(state["audience_learner"])
        self.generator.set_state(state["generator"])
        self.delta.load_state_dict(state["delta"])
        self.num_steps = int(state["num_steps"])
