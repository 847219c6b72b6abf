"""XNAS expert-advice core: the EG update, the wipeout and eta* for many forecasters at once.

XNAS (Nayman et al., NeurIPS 2019), Algorithm 1, vectorised over the edges (forecasters) of one
cell type: a ``[edges, N]`` state of accumulated rewards and an alive mask. Pure torch, no
supernet: a supernet method calls :meth:`XNASExperts.update` once per architecture step with the
loss gradient w.r.t. the normalised op weights ``u`` of eq. (1) and reads back
:meth:`XNASExperts.weights` and :meth:`XNASExperts.alive_mask`. Cell types with their own N and
horizon T_c (hence their own eta*_c, §3.1 "Multiple Learning Rates") get one instance each.

Sign convention: ``grads[e, i] = dloss/du_{e,i} = grad_p loss . f_i`` (XNAS eq. (35)), the gradient
of the loss being minimised; the reward is its negative, ``R = -grads`` (Algorithm 1 line 8,
eq. (18)), so an expert that lowers the loss gains weight.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_STATE_KEYS = ("reward", "alive", "step", "config")
_ROUNDING_SLACK = 1e-9  # relative to L t, the largest |S| can be after t rounds


def optimal_learning_rate(horizon: int, num_experts: int, grad_bound: float) -> float:
    """eta* = sqrt(2 ln N / (T L^2)): the minimiser of the first two terms of Theorem 1's bound,
    XNAS eq. (3) -> eq. (4)."""
    _check_config(horizon=horizon, num_experts=num_experts, grad_bound=grad_bound)
    return math.sqrt(2.0 * math.log(num_experts) / (horizon * grad_bound**2))


def regret_bound(horizon: int, num_experts: int, grad_bound: float) -> float:
    """Worst-case regret at eta*, L sqrt(2 T ln N): XNAS eq. (4) with gamma_T = 1 (no wipeout)."""
    _check_config(horizon=horizon, num_experts=num_experts, grad_bound=grad_bound)
    return grad_bound * math.sqrt(2.0 * horizon * math.log(num_experts))


def effective_horizon(val_size: int, epochs: int, replications: int) -> int:
    """T_c = d * E * r_c (XNAS §3.1, "Multiple Learning Rates"): gradient feedbacks an edge of
    cell type c receives from d validation samples over E epochs through r_c replicated cells."""
    for name, value in (("val_size", val_size), ("epochs", epochs), ("replications", replications)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    return val_size * epochs * replications


def log_wipeout_threshold(
    max_log_weight: Tensor,
    *,
    eta: float,
    grad_bound: float,
    step: int,
    horizon: int,
    zeta: float = 1.0,
) -> Tensor:
    """ln theta_t = max_i ln v_{t,i} - 2 eta L (T - t) zeta: Algorithm 1 line 11, with the
    relaxation 0 < zeta <= 1 of §3.2.1 ("Wipeout Factor"; zeta = 1 is the paper's rule)."""
    _check_config(horizon=horizon, grad_bound=grad_bound, eta=eta, zeta=zeta)
    if not 0 <= step <= horizon:
        raise ValueError(f"step must be in [0, horizon={horizon}], got {step}")
    return max_log_weight - 2.0 * eta * grad_bound * (horizon - step) * zeta


class XNASExperts:
    """Algorithm 1 of XNAS for ``num_edges`` forecasters of ``num_experts`` experts each.

    State: accumulated (clipped) rewards ``S[e, i] = sum_s R_{s,e,i}``, so ``ln v = eta S``
    (v_0 = 1, line 2), the alive mask ``I_t`` (eq. (21)) and the round counter t.
    ``eta`` defaults to eta* (eq. (4)); Remark 1 calls eta* an upper bound on the optimal rate,
    to be fine-tuned. ``wipeout=False`` skips lines 11-12 (plain EG, for ablations).
    """

    def __init__(
        self,
        num_edges: int,
        num_experts: int,
        *,
        horizon: int,
        grad_bound: float = 1.0,
        eta: float | None = None,
        zeta: float = 1.0,
        wipeout: bool = True,
        device: torch.device | str | None = None,
    ) -> None:
        if num_edges < 1:
            raise ValueError(f"num_edges must be >= 1, got {num_edges}")
        if eta is None:
            eta = optimal_learning_rate(horizon, num_experts, grad_bound)
        _check_config(
            horizon=horizon, num_experts=num_experts, grad_bound=grad_bound, eta=eta, zeta=zeta
        )
        self.num_edges = num_edges
        self.num_experts = num_experts
        self.horizon = horizon
        self.grad_bound = float(grad_bound)
        self.eta = float(eta)
        self.zeta = float(zeta)
        self.wipeout = wipeout
        self.step = 0
        shape = (num_edges, num_experts)
        self._reward = torch.zeros(shape, dtype=torch.float64, device=device)
        self._alive = torch.ones(shape, dtype=torch.bool, device=device)

    @property
    def device(self) -> torch.device:
        return self._reward.device

    def update(self, grads: Tensor, rounds: int = 1) -> Tensor:
        """One EG step and wipeout; returns the experts wiped by this call (``[edges, N]`` bool).

        ``grads[e, i]`` is dloss/du_{e,i} (eq. (35)), clipped to [-L, L] so that eq. (20)
        |l'_t(f_{t,i})| <= L holds; R = -clip(grads) (line 8), S += rounds * R on alive experts,
        i.e. v_t = v_{t-1} exp(eta R) applied ``rounds`` times (line 9), then t += rounds and
        every alive i with v_{t,i} < theta_t (line 11) leaves I_t (line 12). The test runs as
        ``S_i < ln(theta_t) / eta - 1e-9 L t``: divided by eta > 0, less a slack far above float
        rounding of S, so an exact tie in hindsight (e.g. rewards of exactly +-L) cannot wipe
        the best expert through rounding (Lemma 1 holds in floating point, not just on paper).

        ``rounds > 1`` aggregates that many feedback rounds with the same mean gradient (a
        minibatch of B samples through r_c shared cells is B * r_c rounds of T_c = d E r_c; pass
        the gradient of the batch-mean loss divided by r_c). Lemma 1 still holds, since every
        round's reward stays within [-L, L]. Wiped entries of ``grads`` are ignored (may be NaN).
        """
        if tuple(grads.shape) != (self.num_edges, self.num_experts):
            raise ValueError(
                f"grads must have shape ({self.num_edges}, {self.num_experts}) "
                f"[edges, experts], got {tuple(grads.shape)}"
            )
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            raise ValueError(f"rounds must be an int >= 1, got {rounds!r}")
        if self.step + rounds > self.horizon:
            raise ValueError(
                f"update of {rounds} round(s) at step {self.step} passes horizon T={self.horizon}"
            )
        g = grads.detach().to(device=self.device, dtype=torch.float64)
        if not bool(torch.isfinite(g[self._alive]).all()):
            raise ValueError("grads has non-finite entries on alive experts")
        reward = -g.clamp(-self.grad_bound, self.grad_bound)
        self._reward = torch.where(self._alive, self._reward + rounds * reward, self._reward)
        self.step += rounds
        if not self.wipeout:
            return torch.zeros_like(self._alive)
        leader = self._reward.masked_fill(~self._alive, -math.inf).amax(dim=1, keepdim=True)
        log_theta = log_wipeout_threshold(
            self.eta * leader,
            eta=self.eta, grad_bound=self.grad_bound, step=self.step, horizon=self.horizon,
            zeta=self.zeta,
        )  # fmt: skip
        slack = _ROUNDING_SLACK * self.grad_bound * self.step  # |S| <= L t
        wiped = self._alive & (self._reward < log_theta / self.eta - slack)
        self._alive = self._alive & ~wiped
        return wiped

    def log_weights(self) -> Tensor:
        """ln v_{t,i} = eta S_{t,i} on alive experts, -inf on wiped ones (line 9, v_0 = 1)."""
        return (self.eta * self._reward).masked_fill(~self._alive, -math.inf)

    def weights(self) -> Tensor:
        """u_{t,i} = v_{t,i} / sum_{l in I_t} v_{t,l} (eq. (1), line 5), float64 ``[edges, N]``;
        rows sum to 1 and wiped experts are exactly 0 (the leader is never wiped)."""
        return torch.softmax(self.log_weights(), dim=1)

    def alive_mask(self) -> Tensor:
        """I_t as a bool ``[edges, N]`` mask; once False an entry stays False."""
        return self._alive.clone()

    def cumulative_rewards(self) -> Tensor:
        """S_{t,i} = sum_{s <= t} R_{s,i}: accumulated clipped rewards, frozen once wiped."""
        return self._reward.clone()

    def state_dict(self) -> dict[str, object]:
        """Tensors (cloned), the round counter and the config, for an exact round trip."""
        return {
            "reward": self._reward.clone(),
            "alive": self._alive.clone(),
            "step": self.step,
            "config": self._config(),
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore :meth:`state_dict`; the config (shape, T, L, eta, zeta, wipeout) must match."""
        missing = [k for k in _STATE_KEYS if k not in state]
        if missing:
            raise KeyError(f"state_dict lacks {missing}; expected keys {list(_STATE_KEYS)}")
        if state["config"] != self._config():
            raise ValueError(f"state config {state['config']} does not match {self._config()}")
        reward, alive, step = state["reward"], state["alive"], state["step"]
        if not (isinstance(reward, Tensor) and isinstance(alive, Tensor)):
            raise ValueError("state 'reward' and 'alive' must be tensors")
        if not isinstance(step, int) or not 0 <= step <= self.horizon:
            raise ValueError(f"state step must be an int in [0, {self.horizon}], got {step!r}")
        shape = (self.num_edges, self.num_experts)
        if tuple(reward.shape) != shape or tuple(alive.shape) != shape:
            raise ValueError(
                f"state tensors must have shape {shape}, got {tuple(reward.shape)} "
                f"and {tuple(alive.shape)}"
            )
        self._reward = reward.detach().to(device=self.device, dtype=torch.float64).clone()
        self._alive = alive.detach().to(device=self.device, dtype=torch.bool).clone()
        self.step = step

    def _config(self) -> dict[str, object]:
        return {
            "num_edges": self.num_edges,
            "num_experts": self.num_experts,
            "horizon": self.horizon,
            "grad_bound": self.grad_bound,
            "eta": self.eta,
            "zeta": self.zeta,
            "wipeout": self.wipeout,
        }


def _check_config(
    *,
    horizon: int,
    grad_bound: float,
    num_experts: int | None = None,
    eta: float | None = None,
    zeta: float | None = None,
) -> None:
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon <= 0:
        raise ValueError(f"horizon T must be an int > 0, got {horizon!r}")
    if not grad_bound > 0 or not math.isfinite(grad_bound):
        raise ValueError(f"grad_bound L must be finite and > 0, got {grad_bound!r}")
    if num_experts is not None and (not isinstance(num_experts, int) or num_experts < 2):
        raise ValueError(f"num_experts N must be an int >= 2, got {num_experts!r}")
    if eta is not None and (not eta > 0 or not math.isfinite(eta)):
        raise ValueError(f"eta must be finite and > 0, got {eta!r}")
    if zeta is not None and not 0 < zeta <= 1:
        raise ValueError(f"zeta must be in (0, 1], got {zeta!r}")
