"""The simulation core: a world (catalog + personas + embeddings) and the population's dynamics.

A :class:`Simulator` steps *all users in a session at once*: one call of :meth:`Simulator.step`
serves one request to every in-session user (a slate each) and applies the choice model and the
state transition as array operations. When every session has ended, the simulator moves on by
itself: further sessions of the day, the end of the day (satisfaction, overnight drift and
fatigue recovery, return and churn draws, arrivals), and the next day's sessions.

Randomness (DESIGN.md §4): every exogenous draw of day t comes from streams named ``day{t}/...``
and has a fixed shape over *all* users, drawn whether or not a user is in a session. The j-th
request of day t therefore sees the same uniforms and noise under any policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recsim_llm.catalog.base import Catalog
from recsim_llm.catalog.supply import ProviderSupply
from recsim_llm.config import ScenarioConfig
from recsim_llm.kernels import resolve_kernel
from recsim_llm.personas.base import Personas
from recsim_llm.rng import RngStreams
from recsim_llm.users import choice as choice_mod
from recsim_llm.users import dynamics as dyn

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]

BLOCK = 4096
"""served users per chunk of the slate computations: the [chunk, k, d] gather of slate
embeddings stays in cache-sized memory instead of m * k * d floats per step (measured 1.6x
faster at 1e5 users, see docs/benchmarks.md)"""

NIGHT_BLOCK = 8192
"""users per block of the overnight interest draw (a reused [block, K, d] buffer of 4 MB at
K = 2, d = 64, instead of a fresh [n, K, d] array every night; the same numbers)"""

FAST_CHECK_MAX_SLATE = 32
"""largest slate the numba path validates with its O(k^2) per-row check (longer slates go
through :func:`validate_slates`'s sort)"""


@dataclass(frozen=True)
class World:
    """Everything static about a scenario: catalog, personas and their embeddings."""

    cfg: ScenarioConfig
    catalog: Catalog
    personas: Personas
    item_emb: FloatArray
    """[n_items, d] unit-norm item embeddings (public: derived from public item text)"""
    interest0: FloatArray
    """[n_users, K, d] persona interests, one per interest text (padding slots repeat slot 0)"""
    dislike: FloatArray
    """[n_users, d] dislike vectors (zeros where the persona dislikes nothing)"""
    encoder_identity: str
    """which encoder produced the embeddings (and projection, if any)"""
    interest_logw: FloatArray | None = None
    """[n_users, K] log pooling weights (``-log K_u``, ``-inf`` on padding); None = uniform"""
    hook: FloatArray | None = None
    """[n_users] relative hook susceptibility g_u (``Personas.hook``); None = all 1"""

    def __post_init__(self) -> None:
        if self.interest0.ndim == 2:  # one interest per user
            object.__setattr__(self, "interest0", self.interest0[:, None, :])
        n, k = self.interest0.shape[:2]
        if self.interest_logw is None:
            object.__setattr__(self, "interest_logw",
                               np.full((n, k), -np.log(k), np.float32))
        if self.hook is None:
            object.__setattr__(self, "hook", np.ones(n, np.float32))

    @property
    def n_users(self) -> int:
        return self.interest0.shape[0]

    @property
    def n_interests(self) -> int:
        """K, the most interests of any persona (the interest arrays' second axis)."""
        return self.interest0.shape[1]

    def mean_interest0(self) -> FloatArray:
        """[n_users, d] each persona's interests averaged into one direction (for metrics)."""
        assert self.interest_logw is not None
        return dyn.mean_interest(self.interest0, self.interest_logw)

    @property
    def n_items(self) -> int:
        return self.item_emb.shape[0]

    @property
    def dim(self) -> int:
        return self.item_emb.shape[1]

    def user_arrival(self) -> IntArray:
        if self.personas.arrival_day is None:
            return np.zeros(self.n_users, np.int64)
        return self.personas.arrival_day


@dataclass(frozen=True)
class Feedback:
    """What happened at one request, for the users that were in a session (m of them)."""

    day: int
    tick: int
    """request index within the day"""
    users: IntArray
    """[m] user indices that were served"""
    slates: IntArray
    """[m, k] the slates they were shown"""
    positions: IntArray
    """[m] clicked slot, -1 = no click"""
    items: IntArray
    """[m] clicked item, -1 = no click"""
    satisfaction: npt.NDArray[np.float64]
    """[m] realised satisfaction (``no_click_satisfaction`` where no click); hidden"""
    session_ended: npt.NDArray[np.bool_]
    """[m] this request ended the user's session"""
    slate_mean_emb: FloatArray
    """[m, d] mean embedding of each slate (public; gives intra-list diversity cheaply)"""
    dwell: npt.NDArray[np.float64] | None = None
    """[m] the noisy dwell signal of a click, ``y + dwell_noise * eps`` (NaN where no click):
    the only value-related signal a platform logs. None (when built by hand) = all NaN"""

    def __post_init__(self) -> None:
        if self.dwell is None:
            object.__setattr__(self, "dwell", np.full(len(self.users), np.nan))

    @property
    def clicked(self) -> npt.NDArray[np.bool_]:
        return self.positions >= 0


class SlateError(ValueError):
    """A slate is malformed: wrong shape or dtype, ids out of range, duplicates, NaN scores."""


def validate_slates(slates: np.ndarray, n_users: int, slate_size: int, n_available: int,
                    rows: IntArray | None = None, user_ids: IntArray | None = None) -> IntArray:
    """Check a batch of slates and return it as int64; raise :class:`SlateError` naming the
    first offending user and slot.

    Args:
        slates: [n_users, slate_size] item ids.
        rows: users whose slates are used (others may hold placeholders); None = all.
        user_ids: [n_users] the user each row belongs to, for the error message (None = the
            row index).
    """
    arr = np.asarray(slates)
    if arr.shape != (n_users, slate_size):
        raise SlateError(f"slates must have shape ({n_users}, {slate_size}) "
                         f"[users, slots], got {arr.shape}")
    if arr.dtype.kind not in "iu":
        bad = np.argwhere(~np.isfinite(arr)) if arr.dtype.kind == "f" else np.empty((0, 2))
        where = (f"; user {bad[0][0]}, slot {bad[0][1]} holds {arr[tuple(bad[0])]}"
                 if len(bad) else f"; user 0, slot 0 holds {arr.flat[0]!r}")
        raise SlateError(f"slates must be integer item ids, got dtype {arr.dtype}{where}")
    arr = arr.astype(np.int64, copy=False)
    sub = arr if rows is None else arr[rows]
    ids = rows if user_ids is None else user_ids
    user_of = (lambda r: r) if ids is None else (lambda r: int(ids[r]))
    out = (sub < 0) | (sub >= n_available)
    if out.any():
        r, j = np.argwhere(out)[0]
        raise SlateError(f"slate of user {user_of(r)} has item {sub[r, j]} at slot {j}, "
                         f"outside the available items [0, {n_available})")
    if slate_size > 1:
        srt = np.sort(sub, axis=1)
        dup = srt[:, 1:] == srt[:, :-1]
        if dup.any():  # the (slower) stable argsort only to word the error
            r = int(np.argwhere(dup)[0][0])
            order = np.argsort(sub[r], kind="stable")
            j = int(np.flatnonzero(sub[r][order][1:] == sub[r][order][:-1])[0])
            raise SlateError(f"slate of user {user_of(r)} repeats item {sub[r, order[j]]} at "
                             f"slots {order[j]} and {order[j + 1]}")
    return arr


class Simulator:
    """The population of evolving users over a catalog, stepped one request at a time.

    Typical loop::

        sim = Simulator(world, seed=0)
        sim.reset()
        while not sim.done:
            feedback = sim.step(policy_slates_for(sim))

    ``before_request(sim, users, slates)`` hooks run after validation, before the state
    changes; ``on_request(feedback)`` callbacks run after each request, before the simulator
    moves on to a new session or day; ``on_day_end(sim, day)`` callbacks run after each day's
    satisfaction update, before the overnight changes, so they see the day as it ended.
    """

    def __init__(self, world: World, seed: int) -> None:
        self.world = world
        self.cfg = world.cfg
        self.seed = int(seed)
        self.rngs = RngStreams(self.seed)
        ch = self.cfg.choice
        self._pos_penalty = choice_mod.position_penalty(self.cfg.slate_size, ch.position_bias)
        self._item_arrival = world.catalog.arrival_day
        self._user_arrival = world.user_arrival()
        self._appeal = world.catalog.appeal.astype(np.float32)
        self._value = world.catalog.value.astype(np.float32)
        self._trap_hi, self._trap_lo = world.catalog.trap_thresholds()
        self._supply: ProviderSupply | None = None
        """the providers' hook efforts (``cfg.supply``; None when the supply side is off)"""
        if self.cfg.supply.enabled:
            cat = world.catalog
            self._supply = ProviderSupply(self.cfg.supply, cat.provider, cat.appeal, cat.value)
        self.before_request: list[Callable[[Simulator, IntArray, IntArray], None]] = []
        self.on_request: list[Callable[[Feedback], None]] = []
        self._gbuf: FloatArray | None = None
        self._hook0: FloatArray | None = None
        """[n] the persona's hook h_u when habit formation is on (``habit_gain > 0``)"""
        self._habit: FloatArray | None = None
        """[n] habit stock H_u (recently consumed appeal) when habit formation is on"""
        self.on_day_end: list[Callable[[Simulator, int], None]] = []
        self.kernel = resolve_kernel(self.cfg.simulator.kernel)
        """the kernel in use, ``"numpy"`` or ``"numba"`` (``auto`` resolved)"""
        self._kpop = None
        if self.kernel == "numba":
            from recsim_llm.kernels import population as kpop

            self._kpop = kpop
            self._kparams = kpop.params(self.cfg)
            self._no_utilities = np.empty((0, self.cfg.slate_size), np.float32)
        self.state: dyn.PopulationState
        self.day = 0
        self.tick = 0
        self.session_no = 0
        self.done = False

    # ------------------------------------------------------------------ lifecycle
    def reset(self) -> None:
        """Build day 0: every user who has arrived starts a session."""
        w, n, d = self.world, self.world.n_users, self.world.dim
        joined = self._user_arrival <= 0
        assert w.interest_logw is not None and w.hook is not None
        self.state = dyn.PopulationState(
            interest=w.interest0.copy(), interest0=w.interest0, interest_logw=w.interest_logw,
            hook=(self.cfg.choice.w_appeal * w.hook).astype(np.float32), dislike=w.dislike,
            fatigue=np.zeros((n, d), np.float32),
            satisfaction=np.full(n, self.cfg.dynamics.initial_satisfaction),
            budget=np.zeros(n), misses=np.zeros(n, np.int64), requests=np.zeros(n, np.int64),
            in_session=joined.copy(), visited_today=joined.copy(),
            days_absent=np.zeros(n, np.int64), churned=np.zeros(n, bool), joined=joined,
            day_sat_sum=np.zeros(n), day_requests=np.zeros(n, np.int64),
            day_clicks=np.zeros(n, np.int64), day_sessions=np.zeros(n, np.int64))
        self.day, self.tick, self.session_no, self.done = 0, 0, 0, False
        if self.cfg.dynamics.habit_gain > 0:  # prototype, off by default: no state otherwise
            self._hook0 = self.state.hook.copy()
            self._habit = np.zeros(n, np.float32)
        if self._supply is not None:
            self._supply.reset(self.rngs.fresh("supply"))
            self._refresh_items()
        self._start_day_streams()
        self._start_session(joined)
        if not joined.any():
            self._advance()

    # ------------------------------------------------------------------ items (hidden)
    @property
    def appeal(self) -> npt.NDArray[np.float64]:
        """[n_items] today's appeal of every item (the catalog's, plus the provider's hook
        effort when the supply side is on); hidden: for the oracles and the metrics."""
        return self.world.catalog.appeal if self._supply is None else self._appeal_now

    @property
    def value(self) -> npt.NDArray[np.float64]:
        """[n_items] today's value of every item (see :attr:`appeal`); hidden."""
        return self.world.catalog.value if self._supply is None else self._value_now

    def trap_items(self) -> npt.NDArray[np.bool_]:
        """[n_items] today's engagement trap: appeal and value against the fixed thresholds
        of the day-0 catalog (:meth:`Catalog.trap_thresholds`), so that a trap share moves
        only when items or exposure do."""
        return (self.appeal >= self._trap_hi) & (self.value <= self._trap_lo)

    def mean_hook_effort(self) -> float:
        """Item-weighted mean provider hook effort over the available items (0 when off)."""
        return 0.0 if self._supply is None else self._supply.mean_effort(self.n_available)

    def _refresh_items(self) -> None:
        assert self._supply is not None
        self._appeal_now, self._value_now = self._supply.items()
        self._appeal = self._appeal_now.astype(np.float32)
        self._value = self._value_now.astype(np.float32)

    @property
    def n_available(self) -> int:
        """Items that have arrived by today (a prefix of the ids: catalogs are arrival-sorted)."""
        return int(np.searchsorted(self._item_arrival, self.day, side="right"))

    def _start_day_streams(self) -> None:
        day = self.rngs.child(f"day{self.day}")
        self._rng_choice = day["choice"]
        self._rng_sat = day["satisfaction"]
        self._rng_dwell = day["dwell"]
        self._rng_day = day

    def _start_session(self, who: npt.NDArray[np.bool_]) -> None:
        st = self.state
        st.in_session = who.copy()
        st.budget = np.where(who, self.cfg.dynamics.session_budget, 0.0)
        st.misses[who] = 0
        st.requests[who] = 0
        st.day_sessions += who

    # ------------------------------------------------------------------ one request
    def step(self, slates: np.ndarray) -> Feedback:
        """Serve one slate to each in-session user and apply choice and transition.

        Args:
            slates: [n_users, slate_size] item ids; rows of users not in a session are ignored.
        Returns:
            the feedback of the served users.
        Raises:
            SlateError: malformed slates (the state is left untouched).
            RuntimeError: the horizon has been reached.
        """
        if self.done:
            raise RuntimeError("the simulation reached its horizon; call reset()")
        idx = np.flatnonzero(self.state.in_session)
        arr = np.asarray(slates)
        if (self._kpop is not None and arr.shape == (self.world.n_users, self.cfg.slate_size)
                and arr.dtype == np.int64):
            S = np.take(arr, idx, axis=0)
            if self._fast_valid(S):
                return self._apply(S, idx)
        slates = validate_slates(slates, self.world.n_users, self.cfg.slate_size,
                                 self.n_available, rows=idx)
        return self._apply(np.take(slates, idx, axis=0), idx)

    def _fast_valid(self, S: IntArray) -> bool:
        """The numba path's slate check: True if every row of ``S`` [m, k] (C-contiguous
        int64) holds distinct available ids; False sends it to :func:`validate_slates`."""
        assert self._kpop is not None
        return (S.shape[1] <= FAST_CHECK_MAX_SLATE and S.flags.c_contiguous
                and self._kpop.first_bad_slate(S, self.n_available) < 0)

    def serve(self, slates: np.ndarray, users: IntArray | None = None) -> Feedback:
        """Like :meth:`step`, with one slate per *served* user only (cost grows with them).

        Args:
            slates: [m, slate_size] item ids, row j for the j-th in-session user (ascending).
            users: the in-session users if the caller has them (saves a pass over the
                population); must equal ``flatnonzero(state.in_session)``.
        """
        if self.done:
            raise RuntimeError("the simulation reached its horizon; call reset()")
        idx = np.flatnonzero(self.state.in_session) if users is None else users
        arr = np.asarray(slates)
        if (self._kpop is not None and arr.shape == (len(idx), self.cfg.slate_size)
                and arr.dtype == np.int64 and self._fast_valid(arr)):
            return self._apply(arr, idx)
        S = validate_slates(slates, len(idx), self.cfg.slate_size, self.n_available,
                            user_ids=idx)
        return self._apply(S, idx)

    def _apply(self, S: IntArray, idx: IntArray) -> Feedback:
        """Choice and transition for users ``idx`` shown validated slates ``S`` [m, k]."""
        cfg, ch, dy, st = self.cfg, self.cfg.choice, self.cfg.dynamics, self.state
        n = self.world.n_users
        # Fixed-shape draws over all users: common random numbers across policies.
        if ch.model == "cascade":
            u_all = self._rng_choice.random((n, cfg.slate_size))
        else:
            u_all = self._rng_choice.random(n)
        eps_all = self._rng_sat.standard_normal(n)

        eps_dwell = self._rng_dwell.standard_normal(n)

        for hook in self.before_request:  # e.g. accuracy against the pre-request ground truth
            hook(self, idx, S)
        if self._kpop is not None:
            return self._apply_numba(S, idx, u_all, eps_all, eps_dwell)
        p = np.take(st.interest, idx, axis=0)              # [m, K, d]
        logw = np.take(st.interest_logw, idx, axis=0)      # [m, K]
        q = np.take(st.dislike, idx, axis=0)
        f = np.take(st.fatigue, idx, axis=0)
        cos_p, cos_q, dot_f, shown_mean = self._slate_products(S, p, q, f)
        a = dyn.affinity(dyn.pool_interests(cos_p, logw[:, :, None], ch.pool_temperature,
                                            axis=1), cos_q, ch.lam_dislike)
        b = dyn.boredom(dot_f, ch.beta_fatigue)
        v = dyn.click_utility(a, b, self._appeal[S], st.hook[idx][:, None], ch.temperature,
                              self._pos_penalty)
        if ch.model == "cascade":
            pos = choice_mod.sample_cascade(v, ch.no_click_utility, u_all[idx])
        else:
            pos = choice_mod.sample_mnl(v, ch.no_click_utility, u_all[idx])
        clicked = pos >= 0
        r = np.arange(len(idx))
        pc = np.where(clicked, pos, 0)
        item = S[r, pc]
        y = dyn.realized_satisfaction(a[r, pc], b[r, pc], self._value[item], dy.w_value,
                                      dy.satisfaction_noise * eps_all[idx])
        y = np.where(clicked, y, dy.no_click_satisfaction).astype(np.float64)
        dwell = dyn.dwell_signal(y, clicked, dy.dwell_noise * eps_dwell[idx])
        consumed = np.take(self.world.item_emb, item, axis=0)   # [m, d]
        if self._habit is not None:
            self._update_habit(idx, np.where(clicked, self._appeal[item], 0.0))
        resp = (dyn.responsibility(cos_p[r, :, pc], logw, ch.pool_temperature)
                if p.shape[1] > 1 else None)

        # Only a click (with drift_by="satisfaction": a click with positive satisfaction)
        # moves an interest: update those rows only.
        by_sat = dy.drift_by == "satisfaction"
        move = clicked & (y > 0) if by_sat else clicked
        if move.any():
            st.interest[idx[move]] = dyn.drift_toward(
                p[move], consumed[move], y[move], clicked[move], dy.drift_rate,
                None if resp is None else resp[move], by_satisfaction=by_sat)
        st.fatigue[idx] = dyn.update_fatigue(f, consumed, shown_mean, clicked,
                                             dy.fatigue_decay, dy.shown_fatigue_weight)
        st.budget[idx] = dyn.update_budget(st.budget[idx], y, clicked, dy.request_cost,
                                           dy.refund)
        st.misses[idx] = np.where(clicked, 0, st.misses[idx] + 1)
        st.requests[idx] += 1
        st.day_requests[idx] += 1
        st.day_clicks[idx] += clicked
        st.day_sat_sum[idx] += y
        ended = ((st.budget[idx] <= 0) | (st.misses[idx] >= dy.patience)
                 | (st.requests[idx] >= dy.max_session_len))
        st.in_session[idx[ended]] = False
        fb = Feedback(day=self.day, tick=self.tick, users=idx, slates=S, positions=pos,
                      items=np.where(clicked, item, -1),
                      satisfaction=np.asarray(y, np.float64), dwell=np.asarray(dwell, np.float64),
                      session_ended=ended, slate_mean_emb=shown_mean)
        return self._finish(fb)

    def _finish(self, fb: Feedback) -> Feedback:
        """Callbacks, then a new session or day if every session has ended."""
        self.tick += 1
        if self._supply is not None:
            self._supply.record_clicks(fb.items)
        for cb in self.on_request:
            cb(fb)
        if not self.state.in_session.any():
            self._advance()
        return fb

    def _apply_numba(self, S: IntArray, idx: IntArray, u_all: np.ndarray, eps_all: np.ndarray,
                     eps_dwell: np.ndarray) -> Feedback:
        """:meth:`_apply` as one fused kernel (:func:`recsim_llm.kernels.population.serve`)
        on the draws the reference made over all users."""
        assert self._kpop is not None
        st, m, d = self.state, len(idx), self.world.dim
        pos = np.empty(m, np.int64)
        item = np.empty(m, np.int64)
        y = np.empty(m, np.float64)
        dwell = np.empty(m, np.float64)
        ended = np.empty(m, np.bool_)
        shown = np.empty((m, d), np.float32)
        prm, iprm, cascade = self._kparams
        self._kpop.serve(
            np.ascontiguousarray(S), np.ascontiguousarray(idx, np.int64), self.world.item_emb,
            self._appeal, self._value, self._pos_penalty, st.interest, st.interest_logw,
            st.dislike, st.fatigue, st.hook, st.budget, st.misses, st.requests,
            st.day_requests, st.day_clicks, st.day_sat_sum, st.in_session,
            u_all if u_all.ndim == 2 else u_all[:, None], eps_all,
            eps_dwell, prm, iprm, cascade, pos, item, y, dwell, ended, shown, self._no_utilities)
        if self._habit is not None:  # after the choice, as in the reference: O(served) numpy
            self._update_habit(idx, np.where(item >= 0, self._appeal[np.maximum(item, 0)], 0.0))
        return self._finish(Feedback(day=self.day, tick=self.tick, users=idx, slates=S,
                                     positions=pos, items=item, satisfaction=y, dwell=dwell,
                                     session_ended=ended, slate_mean_emb=shown))

    def _slate_products(self, S: IntArray, p: FloatArray, q: FloatArray, f: FloatArray
                        ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Dot products of slate items with interests, dislike and fatigue, and slate means.

        Computed in chunks of :data:`BLOCK` users through one reused [BLOCK, k, d] buffer.

        Args:
            S: [m, k] slates; p: [m, K, d] interests; q, f: [m, d].
        Returns:
            cos_p: [m, K, k] (interest-major: one contiguous [m, k] product per interest);
            cos_q, dot_f: [m, k]; shown_mean: [m, d].
        """
        m, k = S.shape
        d = self.world.dim
        cos_p = np.empty((m, p.shape[1], k), np.float32)
        cos_q = np.empty((m, k), np.float32)
        dot_f = np.empty((m, k), np.float32)
        shown = np.empty((m, d), np.float32)
        if self._gbuf is None or self._gbuf.shape[1:] != (k, d):
            self._gbuf = np.empty((BLOCK, k, d), np.float32)
        for lo in range(0, m, BLOCK):  # chunks of users, not a loop over users
            hi = min(lo + BLOCK, m)
            # ids were validated, so mode="clip" only lets np.take write into the buffer.
            G = np.take(self.world.item_emb, S[lo:hi], axis=0, out=self._gbuf[: hi - lo],
                        mode="clip")
            for j in range(p.shape[1]):  # a loop over a persona's K interests (K small)
                np.einsum("mkd,md->mk", G, p[lo:hi, j], out=cos_p[lo:hi, j])
            np.einsum("mkd,md->mk", G, q[lo:hi], out=cos_q[lo:hi])
            np.einsum("mkd,md->mk", G, f[lo:hi], out=dot_f[lo:hi])
            np.einsum("mkd->md", G, out=shown[lo:hi])
        shown /= np.float32(k)
        return cos_p, cos_q, dot_f, shown

    # ------------------------------------------------------------------ day boundaries
    def _advance(self) -> None:
        """Move on until some user is in a session, or the horizon is reached."""
        dy = self.cfg.dynamics
        while not self.state.in_session.any():
            st = self.state
            if self.session_no + 1 < dy.sessions_per_day:
                self.session_no += 1
                u = self._rng_day["session"].random(self.world.n_users)
                again = st.visited_today & ~st.churned & (u < dy.extra_session_prob)
                if again.any():
                    self._start_session(again)
                continue
            self._end_day()
            if self.done:
                return

    def _end_day(self) -> None:
        dy, st, n = self.cfg.dynamics, self.state, self.world.n_users
        day_mean = st.day_sat_sum / np.maximum(st.day_requests, 1)
        st.satisfaction = np.asarray(
            dyn.satisfaction_ema(st.satisfaction, day_mean,
                                 st.visited_today & (st.day_requests > 0), dy.satisfaction_ema),
            np.float64)
        for cb in self.on_day_end:
            cb(self, self.day)
        if self._supply is not None:  # providers answer the day's clicks (seen tomorrow)
            self._supply.end_day(self.n_available, self._rng_day["supply"])
            self._refresh_items()
        # Overnight: fatigue recovers, interests relax toward the persona and wander.
        alive = st.alive
        st.fatigue *= np.float32(dy.fatigue_overnight)
        if self._habit is not None:
            self._habit *= np.float32(dy.habit_overnight)
            self._apply_habit(slice(None))
        self._overnight_interests(alive)
        u_return = self._rng_day["return"].random(n)
        self.day += 1
        if self.day >= self.cfg.horizon_days:
            self.done = True
            st.in_session[:] = False
            return
        # Tomorrow: arrivals join and visit; others return with P = sigmoid(theta0 + theta1 s).
        arriving = (self._user_arrival == self.day) & ~st.joined
        st.joined |= arriving
        p_ret = dyn.return_probability(st.satisfaction, dy.return_bias, dy.return_slope)
        if self._habit is not None and dy.habit_return > 0:  # craving brings hooked users back
            p_ret = dyn.return_probability(st.satisfaction, dy.return_bias + dy.habit_return
                                           * self._habit.astype(np.float64), dy.return_slope)
        returns = (st.alive & (u_return < p_ret)) | arriving
        st.days_absent = np.where(returns, 0, st.days_absent + st.alive)
        st.churned |= st.joined & (st.days_absent >= dy.churn_after_days)
        returns &= ~st.churned
        st.visited_today = returns
        st.day_sat_sum[:] = 0.0
        st.day_requests[:] = 0
        st.day_clicks[:] = 0
        st.day_sessions[:] = 0
        self.tick, self.session_no = 0, 0
        self._start_day_streams()
        self._start_session(returns)

    def _overnight_interests(self, alive: npt.NDArray[np.bool_]) -> None:
        """Interests relax toward the persona and wander, one standard normal per interest
        coordinate of every user (with K = 1 the same numbers as an [n, d] draw).

        Drawn and applied in blocks of :data:`NIGHT_BLOCK` users into one reused buffer: the
        stream is consumed in order, so the numbers are those of a single [n, K, d] draw (a
        test holds them equal), without a fresh [n, K, d] temporary every night.
        """
        dy, st, n = self.cfg.dynamics, self.state, self.world.n_users
        rng = self._rng_day["drift"]
        block = min(NIGHT_BLOCK, n)
        buf = getattr(self, "_night_buf", None)
        if buf is None or buf.shape != (block, *st.interest.shape[1:]):
            buf = self._night_buf = np.empty((block, *st.interest.shape[1:]), np.float32)
        # the reference replaces the array; the kernel updates it in place (float32 rounding)
        out = st.interest if self._kpop is not None else st.interest.copy()
        for lo in range(0, n, block):  # blocks of users, not a loop over users
            hi = min(n, lo + block)
            noise = buf[:hi - lo]
            rng.standard_normal(dtype=np.float32, out=noise)
            if self._kpop is not None:
                self._kpop.overnight(out[lo:hi], st.interest0[lo:hi], noise, alive[lo:hi],
                                     dy.anchor_rate, dy.drift_noise)
            else:
                p = st.interest[lo:hi]
                out[lo:hi] = np.where(alive[lo:hi, None, None], dyn.overnight_interest(
                    p, st.interest0[lo:hi], noise, dy.anchor_rate, dy.drift_noise), p)
        st.interest = out

    # ------------------------------------------------------------------ habit (prototype)
    def _update_habit(self, idx: IntArray, appeal_consumed: FloatArray) -> None:
        """``H_u <- d H_u + (1 - d) appeal_consumed`` (0 without a click), then the hook."""
        assert self._habit is not None
        d = np.float32(self.cfg.dynamics.habit_decay)
        self._habit[idx] = d * self._habit[idx] + (1 - d) * appeal_consumed.astype(np.float32)
        self._apply_habit(idx)

    def _apply_habit(self, idx: IntArray | slice) -> None:
        """``h_u(t) = h_u * (1 + habit_gain * H_u)``: hook pull grows with the habit stock."""
        assert self._habit is not None and self._hook0 is not None
        gain = np.float32(self.cfg.dynamics.habit_gain)
        self.state.hook[idx] = self._hook0[idx] * (1 + gain * self._habit[idx])

    # ------------------------------------------------------------------ checkpoints
    def get_state(self) -> dict:
        """Everything needed to resume exactly (arrays, counters, RNG states)."""
        return {"arrays": {k: v.copy() for k, v in self.state.arrays().items()},
                "day": self.day, "tick": self.tick, "session_no": self.session_no,
                "done": self.done, "rng_choice": self._rng_choice.bit_generator.state,
                "rng_sat": self._rng_sat.bit_generator.state,
                "rng_day": self._rng_day.state(),
                **({} if self._habit is None else {"habit": self._habit.copy(),
                                                   "hook0": self._hook0}),
                **({} if self._supply is None else {"supply": self._supply.state()})}

    def set_state(self, snap: dict) -> None:
        if (self._supply is None) != ("supply" not in snap):  # checked before anything changes
            raise ValueError("the snapshot's supply side (on/off) differs from this simulator's")
        self.state = dyn.PopulationState(**{k: v.copy() for k, v in snap["arrays"].items()})
        self.day, self.tick = snap["day"], snap["tick"]
        self.session_no, self.done = snap["session_no"], snap["done"]
        self._start_day_streams()
        self._rng_choice.bit_generator.state = snap["rng_choice"]
        self._rng_sat.bit_generator.state = snap["rng_sat"]
        self._rng_day.set_state(snap["rng_day"])
        if "habit" in snap:
            self._habit, self._hook0 = snap["habit"].copy(), snap["hook0"]
        if self._supply is not None:
            self._supply.set_state(snap["supply"])
            self._refresh_items()

    # ------------------------------------------------------------------ respawn (RL adapters)
    def respawn(self, users: IntArray) -> None:
        """Give churned ``users`` a fresh start now: initial interest, no fatigue, the initial
        satisfaction, and a session that starts at once.

        An RL library with autoreset needs every slot to continue after its episode ends; a
        respawned user is a new account with the same persona. Raises ``ValueError`` for users
        who have not churned.
        """
        users = np.asarray(users, np.int64)
        st, dy = self.state, self.cfg.dynamics
        if self.done:
            raise RuntimeError("the simulation reached its horizon; call reset()")
        if len(users) and not st.churned[users].all():
            raise ValueError("only churned users can be respawned")
        st.interest[users] = self.world.interest0[users]
        st.fatigue[users] = 0.0
        if self._habit is not None:
            self._habit[users] = 0.0
            self._apply_habit(users)
        st.satisfaction[users] = dy.initial_satisfaction
        st.churned[users] = False
        st.joined[users] = True
        st.days_absent[users] = 0
        st.visited_today[users] = True
        st.in_session[users] = True
        st.budget[users] = dy.session_budget
        st.misses[users] = 0
        st.requests[users] = 0
        st.day_sessions[users] += 1
