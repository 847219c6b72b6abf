"""Ask/tell S2E search over a product of relaxation blocks (S2E Alg. 2, eq. (7), (8), Prop. 1).

One iteration m of Alg. 2 is ``ask(K)`` -> evaluate the K samples -> ``tell(samples, scores)``.
Scores are *maximised* (e.g. validation accuracy); the paper minimises a loss, which is the
same problem with f̄ = -score (see :mod:`raysearch.relax.estimators`).

Missing scores: ``None``, NaN, +inf and -inf all count as a failed evaluation and are replaced
by the worst finite score of the batch, so a crashed trial is penalised and the estimators keep
all K samples. A batch without any finite score leaves θ unchanged, but the iteration counter
advances and the batch is consumed. A step that would be non-finite is skipped the same way.

Departures from the paper (each optional; the registry's ``s2e-paper`` switches all off, its
``s2e`` uses the variant that measured best in ``benchmarks/searcher_efficiency.py``), and why:

* **step length by KL** (``kl_step`` = ε): eq. (8)'s ρ H⁻¹∇J moved θ by a median 0.05 nats per
  iteration on the schedule space, so after 10 iterations p_θ was still nearly uniform. With
  ``kl_step`` the update only takes its *direction* from eq. (8) (or GD / NG) and its length
  from the exact KL(p_θ ‖ p_θ') = ε (:func:`~raysearch.relax.steps.floored_kl_step`), the
  trust region of ASNG / information-geometric optimisation. The floor θ ≥ ``theta_min`` is
  kept by holding at-floor parameters and shortening the whole step, never by clipping
  components (clipping after the length was fixed lost up to 2/3 of the step's KL).
* **scale-free utilities** (``utility`` = ``rank`` or ``standardised``): eq. (7) is linear in
  f, so GD / NG steps scaled with the spread of the scores (0.005 of accuracy froze them).
  NES fitness shaping (rank utilities) also makes the update robust to outliers and noise.
* **a Hessian with information** (``hessian`` = ``trust``, ``pool`` > 1): with a baseline the
  weights sum to 0 and ∇² log p does not depend on x, so Prop. 1's first term cancels and the
  estimate is (1/K) Σ w_i s_i s_iᵀ, rank ≤ K: its pseudo-inverse step ignores the rewards.
  ``trust`` maximises the quadratic model inside the KL trust region, i.e. (λF - H)⁻¹∇J, a
  Fisher-damped Newton step (:func:`~raysearch.relax.steps.trust_region_direction`);
  ``pool`` reuses the last ``pool`` - 1 batches with self-normalised importance weights
  p_θ(x)/p_θj(x), a larger effective K for both estimates.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from raysearch.relax.blocks import Block, FloatArray
from raysearch.relax.distribution import ProductDistribution, Sample
from raysearch.relax.estimators import (
    BASELINES,
    UTILITIES,
    Baseline,
    Utility,
    centred_scores,
    importance_weights,
    mc_gradient,
    mc_hessian,
    shaped_scores,
)
from raysearch.relax.steps import (
    OFFICIAL_THETA_FLOOR,
    floored_kl_step,
    floored_solve,
    limit_step,
    official_step,
    trust_region_direction,
)

Update = Literal["newton", "gd", "ng", "official"]
UPDATES: tuple[str, ...] = ("newton", "gd", "ng", "official")
Hessian = Literal["prop1", "trust"]
HESSIANS: tuple[str, ...] = ("prop1", "trust")
STATE_FORMAT = "raysearch.relax.RelaxationOptimizer/1"
KL_ADAPT_RATE = 0.3  # β of the cumulation path of ``kl_adapt``


def _positive_float(value: Any, what: str, allowed: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be {allowed}, got {value!r}")
    out = float(value)
    if not math.isfinite(out) or out <= 0:
        raise ValueError(f"{what} must be {allowed}, got {value!r}")
    return out


def _score_value(score: Any) -> float:
    """A score as a float; None becomes NaN. Non-numbers raise ValueError."""
    if score is None:
        return math.nan
    if isinstance(score, bool) or not isinstance(score, (int, float, np.integer, np.floating)):
        raise ValueError(f"score must be a number or None, got {score!r}")
    return float(score)


class RelaxationOptimizer:
    """S2E stochastic relaxation (Alg. 2) as an ask/tell optimizer that maximises scores.

    Args:
        blocks: the factors of p_θ (:class:`SimplexBlock`, :class:`UnitBlock`,
            :class:`CategoricalBlock`).
        update: ``"newton"`` (default; S2E eq. (8) with H from Prop. 1, saddle-free),
            ``"gd"`` (H = I), ``"ng"`` (H = closed-form Fisher) or ``"official"`` (the official
            code's update, see :func:`~raysearch.relax.steps.official_step`).
        step_size: ρ of eq. (8), > 0.
        seed: seed of the numpy Generator that draws all samples.
        baseline: ``"loo"`` (leave-one-out mean, default) or ``"none"`` (the paper).
        eig_floor: relative eigenvalue floor η / max|λ| of the Newton and Fisher matrices, in (0, 1].
        max_kl: trust region on KL(p_θ ‖ p_θ') per iteration (second order), or None for none.
        theta_min: floor of the Dirichlet/Beta parameters, in (0, 1]. The default 1 (also the
            official code's floor) keeps every Beta/Dirichlet density bounded and unimodal:
            below 1, p_θ piles mass on the boundary and J(θ) has spurious local maxima there
            (e.g. Beta(a → 0, b < 1.5) for a target in the interior). Lower it for the paper's
            full domain θ > 0.

        utility: scores as the estimators use them: ``"raw"`` (the paper), ``"rank"`` (NES
            fitness shaping) or ``"standardised"``.
        kl_step: None (the paper's step ρ M⁻¹g, capped by ``max_kl``) or ε > 0: every step has
            exact KL(p_θ ‖ p_θ') = ε (shorter only at the θ floor); then ``step_size`` and
            ``max_kl`` are unused.
        hessian: Newton's matrix: ``"prop1"`` (saddle-free Prop. 1) or ``"trust"`` (the
            KL-trust-region solution (λF - H)⁻¹g, radius ``kl_step`` or ``max_kl``).
        pool: number of recent batches (this one included) the estimates use, earlier ones
            importance-weighted; 1 = the paper.
        kl_adapt: adapt ε from ``kl_step`` by cumulative step-length adaptation (CMA-ES / ASNG):
            longer while successive steps agree, shorter while they cancel.

    ``"official"`` ignores baseline, eig_floor, max_kl, theta_min, utility, kl_step, hessian
    and pool: it uses the best sample only, an SVD floor of 1e-5 and clamps θ ≥ 1.
    """

    def __init__(
        self,
        blocks: Sequence[Block],
        *,
        update: Update = "newton",
        step_size: float = 1.0,
        seed: int | None = None,
        baseline: Baseline = "loo",
        eig_floor: float = 1e-3,
        max_kl: float | None = 1.0,
        theta_min: float = 1.0,
        utility: Utility = "raw",
        kl_step: float | None = None,
        hessian: Hessian = "prop1",
        pool: int = 1,
        kl_adapt: bool = False,
    ) -> None:
        if update not in UPDATES:
            raise ValueError(f"unknown update {update!r}; allowed: {list(UPDATES)}")
        if baseline not in BASELINES:
            raise ValueError(f"unknown baseline {baseline!r}; allowed: {list(BASELINES)}")
        if utility not in UTILITIES:
            raise ValueError(f"unknown utility {utility!r}; allowed: {list(UTILITIES)}")
        if hessian not in HESSIANS:
            raise ValueError(f"unknown hessian {hessian!r}; allowed: {list(HESSIANS)}")
        if isinstance(pool, bool) or not isinstance(pool, (int, np.integer)) or pool < 1:
            raise ValueError(f"pool must be an int >= 1 (batches reused), got {pool!r}")
        self.kl_step = (
            None if kl_step is None else _positive_float(kl_step, "kl_step", "None or a number > 0")
        )
        self.utility: Utility = utility
        self.hessian: Hessian = hessian
        self.pool = int(pool)
        if kl_adapt and self.kl_step is None:
            raise ValueError("kl_adapt=True needs a kl_step (the initial KL per step)")
        self.kl_adapt = bool(kl_adapt)
        self._kl_now = self.kl_step  # ε of the next step (adapted when kl_adapt)
        self._path: FloatArray = np.zeros(0)  # cumulated unit steps (Fisher metric)
        self._path_norm = 0.0  # E||path||² under independent directions
        self.step_size = _positive_float(step_size, "step_size", "a finite number > 0")
        self.eig_floor = _positive_float(eig_floor, "eig_floor", "a number in (0, 1]")
        if self.eig_floor > 1:
            raise ValueError(f"eig_floor must be a number in (0, 1], got {eig_floor!r}")
        self.max_kl = (
            None if max_kl is None else _positive_float(max_kl, "max_kl", "None or a number > 0")
        )
        self.theta_min = _positive_float(theta_min, "theta_min", "a number in (0, 1]")
        if self.theta_min > 1:
            raise ValueError(f"theta_min must be a number in (0, 1], got {theta_min!r}")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
        ):
            raise ValueError(f"seed must be None or an int >= 0, got {seed!r}")
        self.update: Update = update
        self.baseline: Baseline = baseline
        self.distribution = ProductDistribution(blocks)
        self._rng = np.random.default_rng(seed)
        self._theta = self.distribution.initial_theta()
        self._iteration = 0
        self._pending: list[Sample] = []
        self._pool: list[dict[str, Any]] = []  # earlier batches: samples, filled scores, log q
        self.history: list[dict[str, Any]] = []
        """One JSON-able record per ``tell``: the 0-based iteration, the number of samples and
        of finite scores, the max/mean finite score, the trust-region factor t of the step
        (None when the update was skipped) and θ after the update."""
        self._best: tuple[Sample, float] | None = None

    # -- read-only state ---------------------------------------------------------------------

    @property
    def theta(self) -> FloatArray:
        """A copy of the current θ."""
        return self._theta.copy()

    @property
    def iteration(self) -> int:
        """Number of completed ``tell`` calls (iterations m of Alg. 2)."""
        return self._iteration

    @property
    def pending(self) -> list[Sample]:
        """Copies of the samples handed out by ``ask`` and not told yet."""
        return [dict(sample) for sample in self._pending]

    @property
    def best_observed(self) -> tuple[Sample, float] | None:
        """The best told sample and its (finite) score, or None before any finite score."""
        if self._best is None:
            return None
        return dict(self._best[0]), self._best[1]

    def best_guess(self) -> Sample:
        """The point p_θ concentrates on: Dirichlet/Beta means, categorical modes."""
        return self.distribution.best_guess(self._theta)

    # -- ask / tell --------------------------------------------------------------------------

    def ask(self, n: int) -> list[Sample]:
        """Draw the K = ``n`` samples of the next iteration from p_θ (Alg. 2 steps 3-4)."""
        if self._pending:
            raise RuntimeError(
                f"{len(self._pending)} samples of iteration {self._iteration} are still pending; "
                "tell() their scores before asking again"
            )
        samples = self.distribution.sample(self._rng, n, self._theta)
        self._pending = [dict(sample) for sample in samples]
        return samples

    def tell(self, samples: Sequence[Mapping[str, Any]], scores: Sequence[Any]) -> None:
        """Score the pending batch (any order) and update θ (Alg. 2 steps 7-8)."""
        batch = self._match_pending(samples, scores)
        raw = np.array([_score_value(score) for score in scores], dtype=np.float64)
        finite = np.isfinite(raw)
        record: dict[str, Any] = {
            "iteration": self._iteration,
            "num_samples": len(batch),
            "num_finite": int(finite.sum()),
            "max_score": None,
            "mean_score": None,
            "step_scale": None,
        }
        if finite.any():
            best = int(np.argmax(np.where(finite, raw, -np.inf)))
            record["max_score"] = float(raw[best])
            record["mean_score"] = float(raw[finite].mean())
            if self._best is None or raw[best] > self._best[1]:
                self._best = (dict(batch[best]), float(raw[best]))
            filled = np.where(finite, raw, raw[finite].min())
            log_q = self.distribution.log_probs(batch, self._theta)
            with np.errstate(over="ignore", invalid="ignore"):  # caught by the check below
                new_theta, scale = self._updated_theta(batch, filled, best)
            if np.all(np.isfinite(new_theta)):
                record["kl"] = self.distribution.kl(self._theta, new_theta)
                self._theta = new_theta
                record["step_scale"] = scale
            if self.pool > 1:
                entry = {"samples": batch, "scores": filled.tolist(), "log_q": log_q.tolist()}
                self._pool = (self._pool + [copy.deepcopy(entry)])[-(self.pool - 1) :]
        self._pending = []
        self._iteration += 1
        record["theta"] = self._theta.tolist()
        self.history.append(record)

    def _match_pending(
        self, samples: Sequence[Mapping[str, Any]], scores: Sequence[Any]
    ) -> list[Sample]:
        """The pending twins of ``samples``; ValueError unless they are exactly the batch."""
        if not self._pending:
            raise ValueError("tell() called with no pending samples; call ask() first")
        if len(samples) != len(scores):
            raise ValueError(f"got {len(samples)} samples but {len(scores)} scores")
        if len(samples) != len(self._pending):
            raise ValueError(
                f"tell() needs all {len(self._pending)} pending samples, got {len(samples)}"
            )
        names = set(self.distribution.names)
        left = Counter(self._key(sample) for sample in self._pending)
        twins = {self._key(sample): sample for sample in self._pending}
        batch = []
        for sample in samples:
            key = (
                self._key(sample) if isinstance(sample, Mapping) and set(sample) == names else None
            )
            if key is None or left[key] == 0:
                raise ValueError(
                    f"sample {sample!r} was not handed out by ask() (or was told twice)"
                )
            left[key] -= 1
            batch.append(dict(twins[key]))
        return batch

    def _key(self, sample: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(sample[name] for name in self.distribution.names)

    def _updated_theta(
        self, batch: list[Sample], filled: FloatArray, best: int
    ) -> tuple[FloatArray, float]:
        dist, theta = self.distribution, self._theta
        if self.update == "official":
            step = official_step(
                dist.grad_log_prob(batch[best], theta),
                dist.hess_log_prob(batch[best], theta),
                len(batch),
                self.step_size,
            )
            new = theta + step
            mask = dist.positive_mask
            new[mask] = np.maximum(new[mask], OFFICIAL_THETA_FLOOR)
            return new, 1.0
        samples, weights = self._weighted_pool(batch, filled)
        scores = dist.scores(samples, theta)
        grad = mc_gradient(weights, scores)
        fisher = dist.fisher(theta)
        if self.update == "gd":
            direction = grad
        elif self.update == "ng":
            direction = floored_solve(fisher, grad, self.eig_floor)
        else:
            hess = mc_hessian(weights, scores, dist.hessians(samples, theta))
            if self.hessian == "trust":
                radius = self.kl_step or self.max_kl or 1.0
                direction = trust_region_direction(grad, hess, fisher, radius)
            else:
                direction = floored_solve(hess, grad, self.eig_floor)
        if self.kl_step is None:
            step, scale = limit_step(
                theta,
                self.step_size * direction,
                dist.positive_mask,
                theta_min=self.theta_min,
                fisher=fisher,
                max_kl=self.max_kl,
            )
            return theta + step, scale
        return self._kl_length_step(direction, fisher)

    def _weighted_pool(
        self, batch: list[Sample], filled: FloatArray
    ) -> tuple[list[Sample], FloatArray]:
        """The samples the estimates use and their weights r_i w_i: this batch (r = 1, the
        configured baseline) or, with ``pool`` > 1, also the earlier batches kept, reweighted by
        self-normalised importance weights and centred on their weighted mean utility."""
        samples = [s for entry in self._pool for s in entry["samples"]] + batch
        raw = np.concatenate(
            [np.asarray(e["scores"], dtype=np.float64) for e in self._pool] + [filled]
        )
        utilities = shaped_scores(raw, self.utility)
        if not self._pool:
            return samples, centred_scores(utilities, self.baseline)
        log_q = np.concatenate(
            [np.asarray(e["log_q"], dtype=np.float64) for e in self._pool]
            + [self.distribution.log_probs(batch, self._theta)]
        )
        r = importance_weights(self.distribution.log_probs(samples, self._theta), log_q)
        if self.baseline == "loo":
            utilities = utilities - float(r @ utilities) / float(r.sum())
        return samples, r * utilities

    def _kl_length_step(
        self, direction: FloatArray, fisher: FloatArray
    ) -> tuple[FloatArray, float]:
        """θ + t d with exact KL(p_θ ‖ p_θ+td) = ``kl_step``, the floor kept by shortening."""
        dist, theta, mask = self.distribution, self._theta, self.distribution.positive_mask
        step, t = floored_kl_step(
            theta,
            direction,
            mask,
            self.theta_min,
            lambda delta: (
                dist.kl(theta, theta + delta) if np.all((theta + delta)[mask] > 0) else np.inf
            ),
            self._kl_now,  # type: ignore[arg-type]
            fisher,
        )
        new = theta + step
        new[mask] = np.maximum(new[mask], self.theta_min)  # rounding only: t respects the floor
        if self.kl_adapt:
            self._adapt_kl(step, fisher)
        return new, t

    def _adapt_kl(self, step: FloatArray, fisher: FloatArray) -> None:
        """Cumulative step-length adaptation (CMA-ES's CSA, ASNG's rule) in the Fisher metric:
        p ← (1-β)p + √(β(2-β)) u with u the step's unit vector F^½ step / ‖·‖, γ ← (1-β)²γ +
        β(2-β), then ε ← ε exp(β/2 (‖p‖²/γ - 1)) within [ε₀/8, 8ε₀]: consecutive steps that
        agree (‖p‖² > γ) lengthen the step, steps that cancel shorten it."""
        v = np.linalg.cholesky(fisher).T @ step
        norm = float(np.linalg.norm(v))
        if self._path.size != v.size:
            self._path = np.zeros(v.size)
        if norm > 0:
            beta = KL_ADAPT_RATE
            self._path = (1 - beta) * self._path + np.sqrt(beta * (2 - beta)) * v / norm
            self._path_norm = (1 - beta) ** 2 * self._path_norm + beta * (2 - beta)
            ratio = float(self._path @ self._path) / self._path_norm
            base = float(self.kl_step)  # type: ignore[arg-type]
            self._kl_now = float(
                np.clip(self._kl_now * np.exp(0.5 * beta * (ratio - 1)), base / 8, base * 8)  # type: ignore[operator]
            )

    # -- checkpointing -----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: θ, iteration, RNG state, pending, history.

        Only plain dicts, lists, strings, ints and floats: ``json.dumps`` works on it as is.
        """
        best = None if self._best is None else {"sample": self._best[0], "score": self._best[1]}
        return copy.deepcopy(
            {
                "format": STATE_FORMAT,
                "update": self.update,
                "blocks": self.distribution.spec(),
                "theta": self._theta.tolist(),
                "iteration": self._iteration,
                "rng": self._rng.bit_generator.state,
                "pending": self._pending,
                "history": self.history,
                "best": best,
                "pool": self._pool,
                "kl_now": self._kl_now,
                "path": self._path.tolist(),
                "path_norm": self._path_norm,
            }
        )

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`; later asks are identical to the saved optimizer's."""
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            raise ValueError(f"not a RelaxationOptimizer state (format {STATE_FORMAT!r})")
        if state["blocks"] != self.distribution.spec():
            raise ValueError(
                f"state is for blocks {state['blocks']}, this optimizer has "
                f"{self.distribution.spec()}"
            )
        if state["update"] != self.update:
            raise ValueError(
                f"state is for update {state['update']!r}, this optimizer uses {self.update!r}"
            )
        theta = self.distribution.check_theta(state["theta"])
        if self.update != "official" and np.any(
            theta[self.distribution.positive_mask] < self.theta_min
        ):
            raise ValueError(f"state theta {theta.tolist()} is below theta_min={self.theta_min}")
        pending = [dict(sample) for sample in state["pending"]]
        if pending:
            self.distribution.encode(pending)
        rng = np.random.Generator(np.random.PCG64())
        try:
            rng.bit_generator.state = copy.deepcopy(dict(state["rng"]))
        except (TypeError, ValueError, KeyError) as err:
            raise ValueError(f"state has an unusable rng state: {err}") from err
        best = state["best"]
        self._theta = theta
        self._iteration = int(state["iteration"])
        self._rng = rng
        self._pending = pending
        self.history = copy.deepcopy(list(state["history"]))
        self._best = None if best is None else (dict(best["sample"]), float(best["score"]))
        self._pool = copy.deepcopy(list(state.get("pool", []))) if self.pool > 1 else []
        self._kl_now = state.get("kl_now", self.kl_step)
        self._path = np.asarray(state.get("path", []), dtype=np.float64)
        self._path_norm = float(state.get("path_norm", 0.0))
