"""The population step in torch: state, random draws and a policy's scoring on one device.

:class:`TorchPopulation` runs the user model of :class:`recsim_llm.simulator.Simulator`
(``docs/user_model.md``) with every per-user array as a torch tensor on one device (``cpu``
or ``cuda``): the request step (slate products with the K interests, dislike and fatigue,
soft-max pooling, click utility, the MNL or cascade choice, satisfaction, dwell, drift,
fatigue, budget and session end), the further sessions of a day, and the end of the day
(satisfaction EMA, overnight fatigue and interests, return, churn, arrivals). It also keeps
the platform's memory of what not to show again (:meth:`TorchPopulation.excluded_mask`: the
last ``catalog.exclude_recent`` clicks, or every consumed item on a consume-once catalog,
filled from the personas' history). A policy whose scoring is torch too keeps the whole loop
on the device: :func:`scored_policy` over :func:`click_scores` / :func:`value_scores` is
``oracle:click`` / ``oracle:value`` (on the reference's draws, day for day the platform's
oracles: tested). A request moves no array between host and device, and the host learns only
every ``sync_every`` requests whether a session is still running (one boolean).

Why it is separate from the simulator: the numpy :class:`~recsim_llm.simulator.Simulator` is
the reference (published numbers, the platform log, the envs and every policy of
:mod:`recsim_llm.agents` run on it); this class is the same model for populations that live
on a GPU (``docs/benchmarks.md``, "The torch population"), for the privileged torch policies
and for custom torch policies. It computes every row of the population each request and
masks out the users not in a session (fixed shapes: a compaction would cost a host round
trip on CUDA), in blocks of ``block`` users so that the [block, k, d] slate gather fits in
memory.

Constants enter as Python floats, which torch casts to the tensor's dtype as numpy does, so
the arithmetic is the reference's and the same code runs on CUDA tensors.

Randomness. ``draws="torch"`` (default): each day's streams are ``torch.Generator``s on the
device, seeded from the project's named streams (``day{t}/choice`` ...,
:func:`recsim_llm.rng.seed_sequence`), with fixed-shape draws over all users, so two
policies on one seed see the same exogenous draws at the same (day, request) — but not the
numpy simulator's numbers, and CPU and CUDA generators differ from each other.
``draws="numpy"``: the reference's own draws, in the reference's order, from its numpy
streams (a host-to-device copy per request): on CPU torch this reproduces the numpy
simulator's trajectory until a float32 rounding difference flips a choice (tested).

Supported: the synthetic and real-data worlds without the supply side and without habit
formation (both raise a one-line ``ValueError``); slates are validated on the device unless
``validate=False`` (a trusted on-device policy; saves one host sync per request).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from recsim_llm.rng import RngStreams, seed_sequence
from recsim_llm.users import choice as choice_mod

if TYPE_CHECKING:
    from recsim_llm.simulator import World

DEVICES = ("auto", "cpu", "cuda")
"""device names :func:`resolve_device` accepts (``cuda:N`` too); ``auto`` = cuda if available"""

CPU_BLOCK = 4096
"""users per block on CPU (cache-sized slate gathers, as the numpy reference's ``BLOCK``)"""
CUDA_BLOCK = 1 << 17
"""users per block on CUDA: a [131072, 10, 384] float32 gather is 2 GB"""

STATE_FIELDS = ("interest", "fatigue", "satisfaction", "budget", "misses", "requests",
                "in_session", "visited_today", "days_absent", "churned", "joined",
                "day_sat_sum", "day_requests", "day_clicks", "day_sessions")
"""the evolving per-user tensors (named as :class:`recsim_llm.users.dynamics.PopulationState`)"""


def resolve_device(name: str) -> torch.device:
    """The torch device for ``name`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``).

    Raises:
        ValueError: an unknown name, or a CUDA device where torch sees none.
    """
    if not isinstance(name, str) or not (name in DEVICES or name.startswith("cuda:")):
        raise ValueError(f"device must be one of {list(DEVICES)} or 'cuda:N', got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} asked for, but torch {torch.__version__} sees no "
                             "CUDA device; use device='cpu' or 'auto' (falls back to the CPU)")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r} asked for, but torch sees "
                             f"{torch.cuda.device_count()} CUDA device(s)")
        return dev
    return torch.device("cpu")


def stream_seed(seed: int, name: str) -> int:
    """A 63-bit seed for a ``torch.Generator`` from the project's stream ``name``."""
    return int(seed_sequence(seed, name).generate_state(1, np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class TorchFeedback:
    """One request, as [n_users] tensors on the device (every user; ``served`` marks the
    rows that were in a session, the others hold -1 / NaN / False)."""

    day: int
    tick: int
    served: torch.Tensor
    """[n] bool: the user was in a session and was served"""
    positions: torch.Tensor
    """[n] int64 clicked slot, -1 = no click (or not served)"""
    items: torch.Tensor
    """[n] int64 clicked item, -1 = none"""
    satisfaction: torch.Tensor
    """[n] float64 realised satisfaction (NaN where not served); hidden"""
    dwell: torch.Tensor
    """[n] float64 noisy dwell of a click (NaN where none): what a platform logs"""
    session_ended: torch.Tensor
    """[n] bool: this request ended the user's session"""


class _TorchDraws:
    """Each day's exogenous draws from device generators seeded by the named streams."""

    def __init__(self, seed: int, device: torch.device) -> None:
        self.seed, self.device = seed, device
        self._gens: dict[str, torch.Generator] = {}

    def start_day(self, day: int) -> None:
        self._day = day
        self._gens = {}

    def _gen(self, name: str) -> torch.Generator:
        if name not in self._gens:
            g = torch.Generator(device=self.device)
            g.manual_seed(stream_seed(self.seed, f"day{self._day}/{name}"))
            self._gens[name] = g
        return self._gens[name]

    def uniform(self, name: str, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.rand(shape, generator=self._gen(name), device=self.device,
                          dtype=torch.float64)

    def normal(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        return torch.randn(shape, generator=self._gen(name), device=self.device, dtype=dtype)

    def state(self) -> dict[str, Any]:
        return {"day": self._day, "gens": {k: g.get_state() for k, g in self._gens.items()}}

    def set_state(self, state: dict[str, Any]) -> None:
        self.start_day(state["day"])
        for name, gen_state in state["gens"].items():
            self._gen(name).set_state(gen_state)


class _NumpyDraws(_TorchDraws):
    """The reference simulator's draws: its numpy streams, in its order, copied over."""

    def start_day(self, day: int) -> None:
        self._day = day
        self._np = RngStreams(self.seed).child(f"day{day}")

    def state(self) -> dict[str, Any]:
        return {"day": self._day, "numpy": self._np.state()}

    def set_state(self, state: dict[str, Any]) -> None:
        self.start_day(state["day"])
        self._np.set_state(state["numpy"])

    def uniform(self, name: str, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.from_numpy(self._np[name].random(shape)).to(self.device)

    def normal(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        np_dtype = np.float32 if dtype == torch.float32 else np.float64
        x = self._np[name].standard_normal(shape, dtype=np_dtype)
        return torch.from_numpy(x).to(self.device)


class TorchPopulation:
    """The population of a :class:`~recsim_llm.simulator.World` stepped in torch.

    Typical loop (``oracle:click``, all on the device)::

        pop = TorchPopulation(world, seed=0, device="auto")
        policy = scored_policy(click_scores)
        pop.reset()
        while not pop.done:
            pop.step(policy(pop), validate=False)   # or: days = pop.run(policy)

    Args:
        world: the static world (catalog, personas, embeddings, config).
        seed: the run seed (named child streams, as the numpy simulator's).
        device: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` (:func:`resolve_device`).
        draws: ``torch`` (device generators) or ``numpy`` (the reference's numbers).
        sync_every: requests between the host's checks for the end of all sessions (1 =
            after every request, the reference's tick structure; larger values serve a few
            empty requests at the end of a session round, which consume draws and change
            nothing, and spare CUDA a sync per request).
        block: users per block of the request step (None = by device).
    """

    def __init__(self, world: World, seed: int, device: str = "auto", draws: str = "torch",
                 sync_every: int = 1, block: int | None = None) -> None:
        cfg = world.cfg
        if cfg.supply.enabled:
            raise ValueError("TorchPopulation does not run the supply side (supply.enabled); "
                             "use the numpy Simulator")
        if cfg.dynamics.habit_gain > 0:
            raise ValueError("TorchPopulation does not run habit formation "
                             "(dynamics.habit_gain > 0); use the numpy Simulator")
        if draws not in ("torch", "numpy"):
            raise ValueError(f"draws must be 'torch' or 'numpy', got {draws!r}")
        if isinstance(sync_every, bool) or not isinstance(sync_every, int) or sync_every < 1:
            raise ValueError(f"sync_every must be an integer >= 1, got {sync_every!r}")
        self.world, self.cfg, self.seed = world, cfg, int(seed)
        RngStreams(self.seed)  # validates the seed
        self.device = resolve_device(device)
        self.block = block or (CUDA_BLOCK if self.device.type == "cuda" else CPU_BLOCK)
        self.sync_every = sync_every
        self._draws = (_NumpyDraws if draws == "numpy" else _TorchDraws)(self.seed, self.device)
        dev, f32 = self.device, torch.float32
        assert world.interest_logw is not None and world.hook is not None

        def put(x: Any, dtype: torch.dtype) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(x), dtype=dtype, device=dev)

        self.item_emb = put(world.item_emb, f32)
        self.appeal = put(world.catalog.appeal.astype(np.float32), f32)
        self.value = put(world.catalog.value.astype(np.float32), f32)
        self.interest0 = put(world.interest0, f32)
        self.interest_logw = put(world.interest_logw, f32)
        self.hook = put((cfg.choice.w_appeal * world.hook).astype(np.float32), f32)
        self.dislike = put(world.dislike, f32)
        self.pos_penalty = put(choice_mod.position_penalty(cfg.slate_size,
                                                            cfg.choice.position_bias), f32)
        self._item_arrival = np.asarray(world.catalog.arrival_day)
        self._user_arrival = put(world.user_arrival(), torch.int64)
        self.slate_size = cfg.slate_size
        self.n_users = world.n_users
        self.consume_once = cfg.catalog.consume_once
        """what policies skip: every consumed item (True) or the last ``exclude_recent`` clicks"""
        self.exclude_recent = cfg.catalog.exclude_recent
        self.day = self.tick = self.session_no = 0
        self.done = False
        self.days: list[dict[str, float]] = []
        """per finished day: users alive, joined, visiting and active, requests, clicks, CTR and
        mean satisfaction (:meth:`_day_record`)"""

    # ------------------------------------------------------------------ lifecycle
    def reset(self) -> None:
        """Day 0: the users who have arrived start a session."""
        n, d, dev = self.n_users, self.world.dim, self.device
        dy = self.cfg.dynamics
        joined = self._user_arrival <= 0

        def zeros(dtype: torch.dtype) -> torch.Tensor:
            return torch.zeros(n, dtype=dtype, device=dev)

        self.interest = self.interest0.clone()
        self.fatigue = torch.zeros((n, d), dtype=torch.float32, device=dev)
        self.satisfaction = torch.full((n,), dy.initial_satisfaction, dtype=torch.float64,
                                       device=dev)
        self.budget = zeros(torch.float64)
        self.misses, self.requests = zeros(torch.int64), zeros(torch.int64)
        self.in_session, self.visited_today = joined.clone(), joined.clone()
        self.days_absent = zeros(torch.int64)
        self.churned, self.joined = zeros(torch.bool), joined.clone()
        self.day_sat_sum = zeros(torch.float64)
        self.day_requests, self.day_clicks = zeros(torch.int64), zeros(torch.int64)
        self.day_sessions = zeros(torch.int64)
        self._reset_exclusions()
        self.day = self.tick = self.session_no = 0
        self.done = False
        self.days = []
        self._draws.start_day(0)
        self._start_session(joined)
        if not bool(joined.any()):
            self._advance()

    def _reset_exclusions(self) -> None:
        """The platform's memory of what not to show again (``PlatformLog.excluded``): a
        watched mask [n, n_items] filled from ``Personas.history`` (consume-once), else a ring
        of each user's last ``exclude_recent`` clicks (-1 = empty)."""
        n, dev = self.n_users, self.device
        if self.consume_once:
            self.watched = torch.zeros((n, self.world.n_items), dtype=torch.bool, device=dev)
            hist = self.world.personas.history or []
            lens = np.array([len(h) for h in hist], np.int64)
            if lens.sum() > 0:
                rows = np.repeat(np.arange(n), lens)
                cols = np.concatenate([np.asarray(h, np.int64) for h in hist])
                self.watched[torch.as_tensor(rows, device=dev),
                             torch.as_tensor(cols, device=dev)] = True
        else:
            width = max(self.exclude_recent, 1)
            self.recent = torch.full((n, width), -1, dtype=torch.int64, device=dev)
            self.recent_ptr = torch.zeros(n, dtype=torch.int64, device=dev)

    def _log_clicks(self, item: torch.Tensor) -> None:
        """Remember this request's clicks (``item`` [n], -1 = none) for :meth:`excluded_mask`."""
        clicked = item >= 0
        if self.consume_once:
            rows = torch.arange(self.n_users, device=self.device)
            self.watched[rows, item.clamp(min=0)] |= clicked
        elif self.exclude_recent > 0:
            slot = (self.recent_ptr % self.exclude_recent)[:, None]
            kept = self.recent.gather(1, slot)[:, 0]
            self.recent.scatter_(1, slot, torch.where(clicked, item, kept)[:, None])
            self.recent_ptr += clicked

    def excluded_mask(self, users: slice = slice(None)) -> torch.Tensor:
        """[m, n_available] bool: the items the platform's policies would not show ``users``
        (their consumed items on a consume-once catalog, else their last ``exclude_recent``
        clicks), as ``PlatformLog.excluded``."""
        a = self.n_available
        if self.consume_once:
            return self.watched[users, :a]
        rec = self.recent[users]
        mask = torch.zeros((rec.shape[0], a + 1), dtype=torch.bool, device=self.device)
        mask.scatter_(1, torch.where((rec >= 0) & (rec < a), rec, a), True)
        return mask[:, :a]

    @property
    def n_available(self) -> int:
        """Items that have arrived by today (a prefix of the arrival-sorted ids)."""
        return int(np.searchsorted(self._item_arrival, self.day, side="right"))

    @property
    def alive(self) -> torch.Tensor:
        return self.joined & ~self.churned

    def state_dict(self) -> dict[str, np.ndarray]:
        """The evolving state as numpy arrays on the host (names of ``PopulationState``)."""
        return {k: getattr(self, k).cpu().numpy() for k in STATE_FIELDS}

    def get_state(self) -> dict[str, Any]:
        """Everything needed to resume exactly: the evolving tensors (copied to the CPU), the
        exclusion memory, the clock and the draw streams' states (``torch.save`` it)."""
        tensors = {k: getattr(self, k) for k in STATE_FIELDS}
        tensors.update({"watched": self.watched} if self.consume_once else
                       {"recent": self.recent, "recent_ptr": self.recent_ptr})
        return {"tensors": {k: t.detach().cpu().clone() for k, t in tensors.items()},
                "day": self.day, "tick": self.tick, "session_no": self.session_no,
                "done": self.done, "days": [dict(d) for d in self.days],
                "draws": self._draws.state(), "seed": self.seed,
                "n_users": self.n_users, "device": self.device.type}

    def set_state(self, snap: dict[str, Any]) -> None:
        """Resume from :meth:`get_state` (on this device). A snapshot of another seed or
        population, or one from the other device type (whose generators differ), is refused
        before anything changes."""
        for key, mine in (("seed", self.seed), ("n_users", self.n_users),
                          ("device", self.device.type)):
            if snap.get(key) != mine:
                raise ValueError(f"snapshot {key} {snap.get(key)!r} differs from this "
                                 f"population's {mine!r}")
        for k, t in snap["tensors"].items():
            setattr(self, k, t.to(self.device).clone())
        self.day, self.tick, self.session_no = snap["day"], snap["tick"], snap["session_no"]
        self.done, self.days = snap["done"], [dict(d) for d in snap["days"]]
        self._draws.set_state(snap["draws"])

    def bytes_per_user(self) -> float:
        """Bytes of every per-user tensor (state and static persona tensors) per user."""
        per_user = [getattr(self, k) for k in STATE_FIELDS] + [
            self.interest0, self.interest_logw, self.hook, self.dislike, self._user_arrival] + (
            [self.watched] if self.consume_once else [self.recent, self.recent_ptr])
        return sum(t.numel() * t.element_size() for t in per_user) / self.n_users

    def _start_session(self, who: torch.Tensor) -> None:
        self.in_session = who.clone()
        full = torch.full_like(self.satisfaction, self.cfg.dynamics.session_budget)
        self.budget = torch.where(who, full, 0.0)
        self.misses = torch.where(who, 0, self.misses)
        self.requests = torch.where(who, 0, self.requests)
        self.day_sessions += who

    # ------------------------------------------------------------------ one request
    def step(self, slates: torch.Tensor, validate: bool = True) -> TorchFeedback:
        """Serve every in-session user its row of ``slates`` [n_users, slate_size].

        Raises:
            ValueError: a malformed slate of an in-session user (``validate``; the state and
                the draws are left untouched).
            RuntimeError: the horizon has been reached (``reset()`` starts again).
        """
        if self.done:
            raise RuntimeError("the simulation reached its horizon; call reset()")
        S = torch.as_tensor(slates, device=self.device)
        if validate:
            self._validate(S)
        ch, dy, n = self.cfg.choice, self.cfg.dynamics, self.n_users
        u = self._draws.uniform("choice", (n, self.slate_size) if ch.model == "cascade"
                                else (n,))
        eps = self._draws.normal("satisfaction", (n,), torch.float64)
        eps_dwell = self._draws.normal("dwell", (n,), torch.float64)
        pos = torch.full((n,), -1, dtype=torch.int64, device=self.device)
        item = torch.full_like(pos, -1)
        y = torch.full((n,), float("nan"), dtype=torch.float64, device=self.device)
        dwell = torch.full_like(y, float("nan"))
        ended = torch.zeros(n, dtype=torch.bool, device=self.device)
        for lo in range(0, n, self.block):  # blocks of users, not a loop over users
            hi = min(n, lo + self.block)
            self._serve_block(slice(lo, hi), S[lo:hi], u[lo:hi], dy.satisfaction_noise
                              * eps[lo:hi], dy.dwell_noise * eps_dwell[lo:hi], pos, item, y,
                              dwell, ended)
        self._log_clicks(item)
        served = self.in_session
        self.in_session = served & ~ended
        fb = TorchFeedback(day=self.day, tick=self.tick, served=served, positions=pos,
                           items=item, satisfaction=y, dwell=dwell, session_ended=ended)
        self.tick += 1
        if self.tick % self.sync_every == 0 and not bool(self.in_session.any()):
            self._advance()
        return fb

    def _validate(self, S: torch.Tensor) -> None:
        if S.shape != (self.n_users, self.slate_size):
            raise ValueError(f"slates must have shape ({self.n_users}, {self.slate_size}) "
                             f"[users, slots], got {tuple(S.shape)}")
        if S.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"slates must be integer item ids, got dtype {S.dtype}")
        rows = S[self.in_session]
        bad = ((rows < 0) | (rows >= self.n_available)).any(dim=1)
        if self.slate_size > 1:
            srt = rows.sort(dim=1).values
            bad |= (srt[:, 1:] == srt[:, :-1]).any(dim=1)
        if bool(bad.any()):
            r = int(torch.nonzero(bad)[0, 0])
            user = int(torch.nonzero(self.in_session)[r, 0])
            raise ValueError(f"slate of user {user} is invalid: {rows[r].tolist()} (ids must be "
                             f"distinct and in [0, {self.n_available}))")

    def _serve_block(self, sl: slice, S: torch.Tensor, u: torch.Tensor, noise: torch.Tensor,
                     dwell_noise: torch.Tensor, pos_out: torch.Tensor, item_out: torch.Tensor,
                     y_out: torch.Tensor, dwell_out: torch.Tensor, ended_out: torch.Tensor
                     ) -> None:
        """The request step of users ``sl`` (every row computed, updates where in session),
        the equations of ``Simulator._apply`` in its dtypes."""
        ch, dy = self.cfg.choice, self.cfg.dynamics
        live = self.in_session[sl]
        S = torch.where(live[:, None], S, 0).long()       # placeholder rows of absent users
        p, logw = self.interest[sl], self.interest_logw[sl]   # [b, K, d], [b, K]
        f = self.fatigue[sl]
        bsz, k = S.shape
        G = self.item_emb.index_select(0, S.reshape(-1)).view(bsz, k, -1)   # [b, k, d]
        # one batched product of the slate with the K interests, the dislike and the fatigue
        n_int = p.shape[1]
        X = torch.cat([p, self.dislike[sl, None], f[:, None]], dim=1)    # [b, K + 2, d]
        C = torch.bmm(G, X.transpose(1, 2))                             # [b, k, K + 2]
        cos_p = C[:, :, :n_int].transpose(1, 2)                         # [b, K, k]
        cos_q, dot_f = C[:, :, n_int], C[:, :, n_int + 1]
        shown = G.sum(dim=1) / k
        tau = ch.pool_temperature
        a = _pool_interests(cos_p, logw, tau) - ch.lam_dislike * torch.clamp(cos_q, min=0.0)
        b = ch.beta_fatigue * torch.clamp(dot_f, min=0.0)
        appeal = self.appeal.index_select(0, S.reshape(-1)).view(bsz, k)
        v = ch.temperature * (a - b) + self.hook[sl, None] * appeal - self.pos_penalty
        if ch.model == "cascade":
            hit = u < 1.0 / (1.0 + torch.exp(-(v - ch.no_click_utility)))
            pos = torch.where(hit.any(dim=1), hit.to(torch.int8).argmax(dim=1), -1)
        else:
            logits = torch.cat([v, torch.full_like(v[:, :1], ch.no_click_utility)], dim=1)
            probs = torch.softmax(logits, dim=1)
            cdf = torch.cumsum(probs, dim=1)
            pos = (cdf[:, :-1] <= u[:, None]).sum(dim=1)
            pos = torch.where(pos >= k, -1, pos)
        clicked = (pos >= 0) & live
        pc = torch.clamp(pos, min=0)[:, None]                 # [b, 1]
        item = S.gather(1, pc)[:, 0]
        y = (a.gather(1, pc)[:, 0] - b.gather(1, pc)[:, 0]
             + dy.w_value * self.value.index_select(0, item)).to(torch.float64) + noise
        y = torch.where(clicked, y, dy.no_click_satisfaction)
        consumed = self.item_emb.index_select(0, item)      # [b, d]
        if dy.drift_by == "satisfaction":
            move, gain = clicked & (y > 0), torch.clamp(y, min=0.0)
        else:
            move, gain = clicked, torch.ones_like(y)
        step = dy.drift_rate * torch.where(move, gain, 0.0)            # [b] float64
        if p.shape[1] > 1:
            c_item = cos_p.gather(2, pc[:, :, None].expand(-1, n_int, 1))[:, :, 0]   # [b, K]
            zr = c_item * (1.0 / tau) + logw
            resp = torch.softmax(zr, dim=1)
            w = (step[:, None] * resp).to(torch.float32)
        else:
            w = step[:, None].to(torch.float32)
        moved = p + w[:, :, None] * (consumed[:, None, :] - p)
        norm = torch.linalg.vector_norm(moved, dim=2, keepdim=True)
        moved = moved / torch.where(norm > 0, norm, 1.0)
        self.interest[sl] = torch.where(move[:, None, None], moved, p)
        cw = ((1.0 - dy.shown_fatigue_weight) * clicked).to(torch.float32)[:, None]
        target = dy.shown_fatigue_weight * shown + cw * consumed
        new_f = dy.fatigue_decay * f + (1.0 - dy.fatigue_decay) * target
        self.fatigue[sl] = torch.where(live[:, None], new_f, f)
        refund = torch.where(clicked, dy.refund * torch.clamp(y, min=0.0), 0.0)
        budget = torch.clamp(self.budget[sl] - dy.request_cost + refund, min=0.0)
        self.budget[sl] = torch.where(live, budget, self.budget[sl])
        misses = torch.where(clicked, 0, self.misses[sl] + 1)
        self.misses[sl] = torch.where(live, misses, self.misses[sl])
        self.requests[sl] += live
        self.day_requests[sl] += live
        self.day_clicks[sl] += clicked
        self.day_sat_sum[sl] += torch.where(live, y, 0.0)
        ended = live & ((self.budget[sl] <= 0) | (self.misses[sl] >= dy.patience)
                        | (self.requests[sl] >= dy.max_session_len))
        pos_out[sl] = torch.where(live, pos, -1)
        item_out[sl] = torch.where(clicked, item, -1)
        y_out[sl] = torch.where(live, y, float("nan"))
        dwell_out[sl] = torch.where(clicked, y + dwell_noise, float("nan"))
        ended_out[sl] = ended

    # ------------------------------------------------------------------ day boundaries
    def _advance(self) -> None:
        """Further sessions of the day, then the end of the day, until a session runs."""
        dy = self.cfg.dynamics
        while not bool(self.in_session.any()):
            if self.session_no + 1 < dy.sessions_per_day:
                self.session_no += 1
                u = self._draws.uniform("session", (self.n_users,))
                again = self.visited_today & ~self.churned & (u < dy.extra_session_prob)
                if bool(again.any()):
                    self._start_session(again)
                continue
            self._end_day()
            if self.done:
                return

    def _end_day(self) -> None:
        dy, n = self.cfg.dynamics, self.n_users
        visited = self.visited_today & (self.day_requests > 0)
        day_mean = self.day_sat_sum / torch.clamp(self.day_requests, min=1)
        self.satisfaction = torch.where(visited, (1.0 - dy.satisfaction_ema) * self.satisfaction
                                        + dy.satisfaction_ema * day_mean, self.satisfaction)
        self.days.append(self._day_record())
        alive = self.alive
        self.fatigue *= dy.fatigue_overnight
        noise = self._draws.normal("drift", tuple(self.interest.shape), torch.float32)
        p = self.interest
        nxt = p + dy.anchor_rate * (self.interest0 - p) + dy.drift_noise * noise
        norm = torch.linalg.vector_norm(nxt, dim=-1, keepdim=True)
        self.interest = torch.where(alive[:, None, None],
                                    nxt / torch.where(norm > 0, norm, 1.0), p)
        u_return = self._draws.uniform("return", (n,))
        self.day += 1
        if self.day >= self.cfg.horizon_days:
            self.done = True
            self.in_session = torch.zeros_like(self.in_session)
            return
        arriving = (self._user_arrival == self.day) & ~self.joined
        self.joined |= arriving
        p_ret = 1.0 / (1.0 + torch.exp(-(dy.return_bias + dy.return_slope * self.satisfaction)))
        returns = (self.alive & (u_return < p_ret)) | arriving
        self.days_absent = torch.where(returns, 0, self.days_absent + self.alive)
        self.churned |= self.joined & (self.days_absent >= dy.churn_after_days)
        returns &= ~self.churned
        self.visited_today = returns
        self.day_sat_sum.zero_()
        self.day_requests.zero_()
        self.day_clicks.zero_()
        self.day_sessions.zero_()
        self.tick, self.session_no = 0, 0
        self._draws.start_day(self.day)
        self._start_session(returns)

    def _day_record(self) -> dict[str, float]:
        """The day as it ended (one host sync per day), with the lab's definitions
        (``docs/metrics.md``): ``mean_satisfaction`` is the mean over today's active users of
        each one's mean satisfaction over their requests."""
        active = self.day_requests > 0
        per_user = self.day_sat_sum / torch.clamp(self.day_requests, min=1)
        vals = torch.stack([self.alive.sum(), self.joined.sum(), self.visited_today.sum(),
                            active.sum(), self.day_requests.sum(), self.day_clicks.sum()])
        alive, joined, visitors, n_active, requests, clicks = (int(x) for x in vals.tolist())
        sat = float(torch.where(active, per_user, 0.0).sum())
        return {"day": self.day, "alive": alive, "joined": joined, "visitors": visitors,
                "active_users": n_active, "requests": requests, "clicks": clicks,
                "ctr": clicks / requests if requests else float("nan"),
                "mean_satisfaction": sat / n_active if n_active else float("nan")}

    def run(self, policy: Callable[[TorchPopulation], torch.Tensor], validate: bool = True
            ) -> list[dict[str, float]]:
        """Reset and step ``policy(self) -> [n_users, k] slates`` to the horizon; the days."""
        self.reset()
        while not self.done:
            self.step(policy(self), validate=validate)
        return self.days


# ---------------------------------------------------------------------- torch policies
def click_scores(pop: TorchPopulation, users: slice = slice(None)) -> torch.Tensor:
    """[m, n_available] immediate click utility of every available item (no position term):
    what ``oracle:click`` ranks by (privileged: reads the hidden state)."""
    a, b = _item_terms(pop, users)
    return pop.cfg.choice.temperature * (a - b) + pop.hook[users, None] * \
        pop.appeal[: pop.n_available]


def value_scores(pop: TorchPopulation, users: slice = slice(None)) -> torch.Tensor:
    """[m, n_available] expected satisfaction of every available item, ``a - b + w v``:
    what ``oracle:value`` ranks by (privileged)."""
    a, b = _item_terms(pop, users)
    return a - b + pop.cfg.dynamics.w_value * pop.value[: pop.n_available]


def _pool_interests(cos: torch.Tensor, logw: torch.Tensor, tau: float) -> torch.Tensor:
    """``dynamics.pool_interests`` on the device: ``cos`` [m, K, x] (any strides) and
    ``logw`` [m, K] -> [m, x], ``c_max + tau * log(sum_k exp((c_k - c_max) / tau + log w_k))``,
    summed over the K interest slices in order (K is small: a persona's stated interests)."""
    if cos.shape[1] == 1:
        return cos[:, 0]
    cmax = cos.amax(dim=1)
    acc = torch.zeros_like(cmax)
    for j in range(cos.shape[1]):  # a loop over the K interests, not over users
        acc += torch.exp((cos[:, j] - cmax) * (1.0 / tau) + logw[:, j, None])
    return cmax + tau * torch.log(acc)


def _item_terms(pop: TorchPopulation, users: slice) -> tuple[torch.Tensor, torch.Tensor]:
    """Taste and boredom of ``users`` for every available item, as
    ``dynamics.all_item_terms``: one product of the items with [interests, dislike, fatigue],
    then :func:`_pool_interests`."""
    ch = pop.cfg.choice
    E = pop.item_emb[: pop.n_available]                       # [a, d]
    p = pop.interest[users]
    n_int, tau = p.shape[1], ch.pool_temperature
    X = torch.cat([p, pop.dislike[users, None], pop.fatigue[users, None]], dim=1)
    C = torch.matmul(X, E.T)                                  # [m, K + 2, a]
    pooled = _pool_interests(C[:, :n_int], pop.interest_logw[users], tau)
    a = pooled - ch.lam_dislike * torch.clamp(C[:, n_int], min=0.0)
    return a, ch.beta_fatigue * torch.clamp(C[:, n_int + 1], min=0.0)


def topk_slates(scores: torch.Tensor, k: int) -> torch.Tensor:
    """[m, k] the k highest-scoring items of each row, best first (on the scores' device)."""
    return torch.topk(scores, k, dim=1, sorted=True).indices


def scored_policy(score: Callable[[TorchPopulation, slice], torch.Tensor],
                  block: int | None = None, exclude: bool = True
                  ) -> Callable[[TorchPopulation], torch.Tensor]:
    """A policy that ranks every available item by ``score`` for each user, in blocks of
    users (the [block, K, n_items] products stay in memory), all on the population's device.

    With ``exclude`` (default) it skips what the platform's policies skip
    (:meth:`TorchPopulation.excluded_mask`; excluded items only when fewer than k others
    are left, as ``agents.base.topk_excluding``): ``scored_policy(click_scores)`` is then
    ``oracle:click`` and ``scored_policy(value_scores)`` ``oracle:value``."""

    def policy(pop: TorchPopulation) -> torch.Tensor:
        n, k, step = pop.n_users, pop.slate_size, block or pop.block
        out = torch.empty((n, k), dtype=torch.int64, device=pop.device)
        for lo in range(0, n, step):  # blocks of users
            sl = slice(lo, lo + step)
            s = score(pop, sl)
            if exclude:
                s = s.masked_fill(pop.excluded_mask(sl), float("-inf"))
            out[lo:lo + step] = topk_slates(s, k)
        return out

    return policy


def random_policy(seed: int) -> Callable[[TorchPopulation], torch.Tensor]:
    """``random`` on the device: k distinct available items uniformly at random for each user
    (on a consume-once catalog among those the user has not consumed), as the platform's
    ``random``, from the device stream ``policy/random`` of ``seed`` (one generator per
    device, created at the first call)."""
    gens: dict[torch.device, torch.Generator] = {}

    def keys(pop: TorchPopulation, users: slice) -> torch.Tensor:
        if pop.device not in gens:
            gens[pop.device] = torch.Generator(device=pop.device)
            gens[pop.device].manual_seed(stream_seed(seed, "policy/random"))
        m = len(range(pop.n_users)[users])
        return torch.rand((m, pop.n_available), generator=gens[pop.device], device=pop.device)

    def policy(pop: TorchPopulation) -> torch.Tensor:
        return scored_policy(keys, exclude=pop.consume_once)(pop)

    return policy


__all__ = ["DEVICES", "TorchFeedback", "TorchPopulation", "click_scores", "random_policy",
           "resolve_device", "scored_policy", "stream_seed", "topk_slates", "value_scores"]
