"""The platform: what a recommender service knows, and the one door through which it serves.

The simulator holds the users' hidden state; the platform holds only what a deployed service
could know (DESIGN.md §2):

* :class:`PlatformLog` — its own logs (slates it served, clicks and the noisy dwell signal it
  recorded), folded into per-user and per-item arrays;
* :class:`PublicCatalog` — item ids, texts and labels, *without* the hidden appeal, value or
  quality;
* :class:`PlatformView` — the read-only snapshot a policy acts on at one request, and
  :class:`LoggedFeedback` — what a policy learns from after it.

:class:`Platform` is the single stepping core: the runner (:mod:`recsim_llm.runner`) and every
environment face (:mod:`recsim_llm.envs`) serve slates through :meth:`Platform.serve`, so a policy
that runs in one runs in the other, and a Gym observation is a pure function of a view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from recsim_llm.catalog.base import Catalog
from recsim_llm.config import RECENT_CLICKS

if TYPE_CHECKING:
    from recsim_llm.simulator import Feedback, Simulator, World

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]

RECENT = RECENT_CLICKS
"""clicked items remembered per user (20; the policies skip the last ``exclude_recent`` of them,
all by default)"""
RECENT_SKIPPED = 50
"""shown-but-not-clicked items remembered per user (about five requests of a 10-item slate)"""
EMA_RATE = 0.2
"""weight of the newest request in the recent-CTR and recent-dwell averages (about the last
five requests)"""


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (writing through it raises ``ValueError``)."""
    v = a.view()
    v.flags.writeable = False
    return v


@dataclass(frozen=True)
class PublicCatalog:
    """The public item data: what a platform shows and may rank by.

    It has no ``appeal``, ``value`` or ``quality`` field: those are the simulated users'
    hidden response to an item, read only by the simulator and the privileged oracles.
    """

    item_ids: npt.NDArray[np.str_]
    """[n_items] external ids"""
    titles: tuple[str, ...]
    """[n_items] short titles"""
    texts: tuple[str, ...]
    """[n_items] full item texts (title, description, genres, tags)"""
    topics: IntArray
    """[n_items] primary topic index into ``topic_names``"""
    topic_names: tuple[str, ...]
    provider: IntArray
    """[n_items] provider index"""
    provider_group: IntArray
    """[n_items] provider group index into ``provider_group_names``"""
    provider_group_names: tuple[str, ...]
    arrival_day: IntArray
    """[n_items] day each item enters the catalog"""
    topic_matrix: npt.NDArray[np.bool_] | None
    """[n_items, n_topics] multi-label topics, or None"""
    source: str

    PUBLIC_FIELDS = ("item_ids", "titles", "texts", "topics", "topic_names", "provider",
                     "provider_group", "provider_group_names", "arrival_day", "topic_matrix",
                     "source")
    """the :class:`~recsim_llm.catalog.base.Catalog` fields a platform may read"""

    @classmethod
    def of(cls, catalog: Catalog) -> PublicCatalog:
        """The public part of ``catalog``; arrays are read-only views."""
        def pub(name: str) -> Any:
            v = getattr(catalog, name)
            if isinstance(v, np.ndarray):
                return readonly(v)
            return tuple(v) if isinstance(v, list) else v
        return cls(**{f: pub(f) for f in cls.PUBLIC_FIELDS})

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_topics(self) -> int:
        return len(self.topic_names)


@dataclass(frozen=True)
class LoggedFeedback:
    """What the platform logged at one request, for the m users it served.

    Built from the simulator's :class:`~recsim_llm.simulator.Feedback` by dropping everything
    a platform cannot observe (the realised satisfaction above all).
    """

    day: int
    request: int
    """request index within the day"""
    users: IntArray
    """[m] users served (ascending)"""
    slates: IntArray
    """[m, k] slates shown"""
    positions: IntArray
    """[m] clicked slot, -1 = no click"""
    items: IntArray
    """[m] clicked item, -1 = no click"""
    dwell: npt.NDArray[np.float64]
    """[m] noisy dwell signal of the consumed item (NaN where no click, or where the scenario
    exposes none): the only value-related signal a platform sees"""
    session_ended: npt.NDArray[np.bool_]
    """[m] the user left after this request"""

    @property
    def clicked(self) -> npt.NDArray[np.bool_]:
        return self.positions >= 0

    @classmethod
    def of(cls, fb: Feedback) -> LoggedFeedback:
        dwell = getattr(fb, "dwell", None)
        if dwell is None:
            dwell = np.full(len(fb.users), np.nan)
        return cls(day=fb.day, request=fb.tick, users=readonly(fb.users),
                   slates=readonly(fb.slates), positions=readonly(fb.positions),
                   items=readonly(fb.items), dwell=readonly(np.asarray(dwell, np.float64)),
                   session_ended=readonly(fb.session_ended))


class PlatformLog:
    """Per-user and per-item counters from the platform's logs, as arrays.

    Updated from :class:`LoggedFeedback` only: it never reads the users' hidden state.
    Shapes: n = users, m = items, d = item-embedding dims, R = :data:`RECENT`.
    """

    def __init__(self, n_users: int, item_emb: FloatArray, recent: int = RECENT,
                 skipped: int = RECENT_SKIPPED, history_clicks: IntArray | None = None,
                 watched: Sequence[IntArray] | None = None,
                 exclude_recent: int | None = None) -> None:
        n, (m, d) = n_users, item_emb.shape
        if exclude_recent is not None and not 0 <= exclude_recent <= recent:
            raise ValueError(f"PlatformLog: exclude_recent must be in [0, {recent}] (the clicks "
                             f"remembered), got {exclude_recent}")
        self.exclude_recent = recent if exclude_recent is None else exclude_recent
        """how many of a user's latest clicks :meth:`excluded` names (not consume-once)"""
        self.item_emb = item_emb
        self.clicks = np.zeros(n, np.int64)
        """[n] clicks so far"""
        self.requests = np.zeros(n, np.int64)
        """[n] slates served so far"""
        self.clicked_sum = np.zeros((n, d), np.float32)
        """[n, d] sum of clicked items' embeddings"""
        self.last_clicked = np.full(n, -1, np.int64)
        """[n] last clicked item (-1 = none)"""
        self.recent = np.full((n, recent), -1, np.int64)
        """[n, R] last clicked items, a ring buffer (column ``recent_ptr % R`` is next)"""
        self.recent_ptr = np.zeros(n, np.int64)
        """[n] clicks written into ``recent`` so far"""
        self.skipped = np.full((n, skipped), -1, np.int64)
        """[n, S] items shown but not clicked, a ring buffer: each request writes its whole
        slate (k columns from ``skipped_ptr % S``) with the clicked slot as -1"""
        self.skipped_ptr = np.zeros(n, np.int64)
        """[n] slate slots written into ``skipped`` so far"""
        self.visit_gap = np.zeros(n, np.int64)
        """[n] days between the user's latest visit day and the one before (0 = first visit)"""
        self.click_ema = np.zeros(n, np.float64)
        """[n] exponential average (weight :data:`EMA_RATE`) of click indicators per request,
        from 0: divide by ``1 - (1 - EMA_RATE) ** requests`` for the recent CTR"""
        self.dwell_ema = np.zeros(n, np.float64)
        """[n] exponential average of the logged dwell of clicks, from 0 (divide by
        ``1 - (1 - EMA_RATE) ** dwell_count``)"""
        self.session_requests = np.zeros(n, np.int64)
        """[n] requests in the current session (0 between sessions)"""
        self.last_visit_day = np.full(n, -1, np.int64)
        """[n] last day the user was served (-1 = never)"""
        self.dwell_sum = np.zeros(n, np.float64)
        """[n] sum of logged dwell signals of the user's clicks"""
        self.dwell_count = np.zeros(n, np.int64)
        """[n] clicks with a logged dwell signal"""
        self.item_impressions = np.zeros(m, np.int64)
        """[m] times each item was shown"""
        self.item_clicks = (np.zeros(m, np.int64) if history_clicks is None
                            else np.array(history_clicks, np.int64))
        """[m] times each item was clicked, counted from ``history_clicks`` (the platform's log
        before the run, :attr:`Catalog.history_clicks <recsim_llm.catalog.base.Catalog.
        history_clicks>`; zeros for a new platform)"""
        self.item_dwell_sum = np.zeros(m, np.float64)
        """[m] sum of logged dwell signals of each item's clicks"""
        self.item_dwell_count = np.zeros(m, np.int64)
        """[m] clicks of each item with a logged dwell signal"""
        if watched is not None:
            self._init_watched(n, m, watched)

    def _init_watched(self, n: int, m: int, history: Sequence[IntArray]) -> None:
        """The consume-once memory, filled from each user's history before the run."""
        if len(history) != n:
            raise ValueError(f"PlatformLog: watched history for {len(history)} users, the run "
                             f"has {n}")
        lens = np.array([len(h) for h in history], np.int64)
        flat = (np.concatenate([np.asarray(h, np.int64) for h in history]) if lens.sum()
                else np.zeros(0, np.int64))
        if len(flat) and (flat.min() < 0 or flat.max() >= m):
            raise ValueError(f"PlatformLog: a watched item id is outside the catalog [0, {m})")
        rows = np.repeat(np.arange(n), lens)
        self.watched_mask = np.zeros((n, m), np.bool_)
        """[n, m] True where the user has consumed the item (consume-once catalogs only)"""
        self.watched_mask[rows, flat] = True
        self.watched_count = self.watched_mask.sum(axis=1).astype(np.int64)
        """[n] distinct items the user has consumed"""
        self.watched = np.full((n, max(1, int(self.watched_count.max(initial=0)))), -1, np.int64)
        """[n, W] the consumed item ids, the first ``watched_count`` columns of each row (-1
        after); W grows when a user's row is full"""
        if len(flat):
            ids = np.flatnonzero(self.watched_mask) % m  # row-major: each row's ids in order
            starts = np.cumsum(self.watched_count) - self.watched_count
            cols = np.arange(len(ids)) - np.repeat(starts, self.watched_count)
            self.watched[np.repeat(np.arange(n), self.watched_count), cols] = ids

    @property
    def consume_once(self) -> bool:
        """Whether the log keeps a consume-once memory (:attr:`watched`)."""
        return hasattr(self, "watched")

    def excluded(self, users: IntArray) -> IntArray:
        """[len(users), H] the item ids no policy should recommend to ``users`` (-1 = none).

        Consume-once catalogs: every item the user has consumed (:attr:`watched`); otherwise
        the user's last :attr:`exclude_recent` clicks (all of :attr:`recent` by default).
        """
        if self.consume_once:
            return self.watched[users]
        r, e = self.recent.shape[1], self.exclude_recent
        if e == r:
            return self.recent[users]
        if e == 0:
            return np.full((len(users), 1), -1, np.int64)
        ptr = self.recent_ptr[users][:, None]
        back = np.arange(1, e + 1)[None, :]                  # 1 = the latest click
        out = self.recent[np.asarray(users)[:, None], (ptr - back) % r]
        return np.where(back <= ptr, out, -1)

    def _log_watched(self, cu: IntArray, ci: IntArray) -> None:
        """Add clicked items to the consume-once memory (a re-click of a watched item, possible
        only when a policy ignores :meth:`excluded`, adds nothing)."""
        new = ~self.watched_mask[cu, ci]
        cu, ci = cu[new], ci[new]
        if len(cu) == 0:
            return
        need = int(self.watched_count[cu].max()) + 1
        if need > self.watched.shape[1]:  # grow by doubling: amortised O(1) per click
            wider = np.full((len(self.watched), max(need, 2 * self.watched.shape[1])), -1,
                            np.int64)
            wider[:, : self.watched.shape[1]] = self.watched
            self.watched = wider
        self.watched[cu, self.watched_count[cu]] = ci
        self.watched_count[cu] += 1
        self.watched_mask[cu, ci] = True

    def update(self, fb: LoggedFeedback) -> None:
        """Fold one request's feedback into the counters (vectorised over served users)."""
        u, clicked = fb.users, fb.clicked
        m = len(self.item_impressions)
        self.item_impressions += np.bincount(fb.slates.ravel(), minlength=m)
        self.requests[u] += 1
        prev = self.last_visit_day[u]
        new_session = prev != fb.day
        self.session_requests[u] = np.where(new_session, 1, self.session_requests[u] + 1)
        self.session_requests[u[fb.session_ended]] = 0
        self.visit_gap[u] = np.where(new_session, np.where(prev >= 0, fb.day - prev, 0),
                                     self.visit_gap[u])
        self.last_visit_day[u] = fb.day
        self.click_ema[u] += EMA_RATE * (clicked - self.click_ema[u])
        self._log_skipped(u, fb.slates, fb.positions)
        if clicked.any():
            cu, ci = u[clicked], fb.items[clicked]
            self.item_clicks += np.bincount(ci, minlength=m)
            self.clicks[cu] += 1
            self.clicked_sum[cu] += self.item_emb[ci]
            self.last_clicked[cu] = ci
            self.recent[cu, self.recent_ptr[cu] % self.recent.shape[1]] = ci
            self.recent_ptr[cu] += 1
            if self.consume_once:
                self._log_watched(cu, ci)
            dw = fb.dwell[clicked]
            has = np.isfinite(dw)
            if has.any():
                self.dwell_sum[cu[has]] += dw[has]
                self.dwell_count[cu[has]] += 1
                np.add.at(self.item_dwell_sum, ci[has], dw[has])
                np.add.at(self.item_dwell_count, ci[has], 1)
                hu = cu[has]
                self.dwell_ema[hu] += EMA_RATE * (dw[has] - self.dwell_ema[hu])

    def _log_skipped(self, u: IntArray, slates: IntArray, positions: IntArray) -> None:
        """Write each served user's slate into their ``skipped`` ring, the clicked slot as -1."""
        m, k = slates.shape
        size = self.skipped.shape[1]
        if m == 0 or size == 0:
            return
        shown = np.where(np.arange(k) == positions[:, None], -1, slates)
        if k > size:  # a ring smaller than a slate keeps the slate's last items
            shown = shown[:, k - size:]
        w = shown.shape[1]
        cols = (self.skipped_ptr[u][:, None] + np.arange(w)) % size
        self.skipped[u[:, None], cols] = shown
        self.skipped_ptr[u] += w

    def reset_users(self, users: IntArray) -> None:
        """Forget everything logged about ``users`` (a respawned user is a new account)."""
        for name, arr in self.arrays().items():
            if not name.startswith("item_"):
                arr[users] = -1 if name in ("last_clicked", "recent", "skipped",
                                            "last_visit_day", "watched") else 0

    def profile(self, users: IntArray | None = None) -> FloatArray:
        """Unit-norm mean of clicked items per user, [len(users), d] (zeros without clicks)."""
        s = self.clicked_sum if users is None else self.clicked_sum[users]
        norm = np.linalg.norm(s, axis=1, keepdims=True)
        return (s / np.where(norm > 0, norm, 1.0)).astype(np.float32, copy=False)

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: v for k, v in vars(self).items()
                if isinstance(v, np.ndarray) and k != "item_emb"}

    def state(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.arrays().items()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        for k, v in state.items():
            setattr(self, k, v.copy())

    def copy(self) -> PlatformLog:
        out = PlatformLog.__new__(PlatformLog)
        out.item_emb, out.exclude_recent = self.item_emb, self.exclude_recent
        for k, v in self.arrays().items():
            setattr(out, k, v.copy())
        return out

    def readonly(self) -> PlatformLogView:
        return PlatformLogView(log=self)


def new_log(world: World) -> PlatformLog:
    """The log of a platform opening on ``world``: item clicks from the catalog's history and,
    for a consume-once catalog (``catalog.consume_once``), each user's items consumed before
    the run (``Personas.history``; none when the personas have no history)."""
    watched = None
    if world.cfg.catalog.consume_once:
        hist = world.personas.history
        watched = hist if hist is not None else [np.zeros(0, np.int64)] * world.n_users
    return PlatformLog(world.n_users, world.item_emb,
                       history_clicks=world.catalog.history_clicks, watched=watched,
                       exclude_recent=world.cfg.catalog.exclude_recent)


class PlatformLogView:
    """Read-only access to a :class:`PlatformLog`: every array attribute is a read-only view."""

    def __init__(self, log: PlatformLog) -> None:
        self._log = log

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._log, name)
        if isinstance(value, np.ndarray):
            return readonly(value)
        if name in ("update", "reset_users", "set_state"):
            raise AttributeError(f"the platform log is read-only here: no {name}()")
        return value

    def profile(self, users: IntArray | None = None) -> FloatArray:
        return self._log.profile(users)

    def excluded(self, users: IntArray) -> IntArray:
        return readonly(self._log.excluded(users))


@dataclass(frozen=True)
class PolicyContext:
    """Static, public facts of a run, handed to :meth:`Policy.bind`."""

    n_users: int
    slate_size: int
    horizon_days: int
    catalog: PublicCatalog
    item_emb: FloatArray
    """[n_items, d] embeddings of the public item texts (read-only)"""
    user_groups: dict[str, np.ndarray]
    """public group labels per user (read-only arrays)"""
    encoder_identity: str = ""
    """which text encoder produced ``item_emb``"""
    max_session_len: int = 10
    """the platform's cap on requests per session (public: the platform enforces it)"""

    @classmethod
    def of(cls, world: World) -> PolicyContext:
        return cls(n_users=world.n_users, slate_size=world.cfg.slate_size,
                   horizon_days=world.cfg.horizon_days, catalog=PublicCatalog.of(world.catalog),
                   item_emb=readonly(world.item_emb),
                   user_groups={k: readonly(np.asarray(v))
                                for k, v in world.personas.groups.items()},
                   encoder_identity=world.encoder_identity,
                   max_session_len=world.cfg.dynamics.max_session_len)


@dataclass(frozen=True)
class PlatformView:
    """What the platform knows at one request: the only input of an unprivileged policy.

    Every array is read-only. ``hidden`` is the simulator for privileged policies (the
    oracles) and None for every other policy.
    """

    day: int
    request: int
    """request index within the day"""
    users: IntArray
    """[m] users in a session now, ascending: a policy returns one slate per row"""
    n_available: int
    """items [0, n_available) may be shown (catalogs are sorted by arrival)"""
    log: PlatformLogView
    context: PolicyContext
    hidden: Simulator | None = None

    @property
    def catalog(self) -> PublicCatalog:
        return self.context.catalog

    @property
    def item_emb(self) -> FloatArray:
        return self.context.item_emb

    @property
    def slate_size(self) -> int:
        return self.context.slate_size

    @property
    def horizon_days(self) -> int:
        return self.context.horizon_days


class Platform:
    """The one stepping core: a simulator behind a platform that logs what it can see.

    Args:
        world: the scenario's world.
        seed: simulation seed (exogenous draws).
    """

    def __init__(self, world: World, seed: int) -> None:
        from recsim_llm.simulator import Simulator

        self.world = world
        self.sim = Simulator(world, seed)
        self.context = PolicyContext.of(world)
        self.log = new_log(world)
        self.frozen_log: PlatformLog | None = None
        """when set, views show this log (a frozen policy's knowledge) instead of ``log``"""
        self._served: IntArray | None = None
        self._last: LoggedFeedback | None = None
        # Logging is the simulator's first request callback, so the log is complete when the
        # day-end callbacks (a policy's retraining) run inside the same step.
        self.sim.on_request.insert(0, self._log_request)

    def _log_request(self, fb: Feedback) -> None:
        self._last = LoggedFeedback.of(fb)
        if self.sim.kernel == "numba":  # the same log, bit for bit, in one compiled pass
            from recsim_llm.kernels import platform_log

            platform_log.update(self.log, self._last, EMA_RATE)
        else:
            self.log.update(self._last)

    # ------------------------------------------------------------------ stepping
    def reset(self) -> None:
        self.sim.reset()
        self.log = new_log(self.world)
        self.frozen_log = None
        self._served = None

    @property
    def done(self) -> bool:
        return self.sim.done

    @property
    def day(self) -> int:
        return self.sim.day

    def served_users(self) -> IntArray:
        """[m] users in a session now (ascending); cached until the next :meth:`serve`."""
        if self._served is None:
            self._served = np.flatnonzero(self.sim.state.in_session)
        return self._served

    def view(self, privileged: bool = False) -> PlatformView:
        """The platform's knowledge now; ``privileged`` adds the simulator (oracles only)."""
        log = self.log if self.frozen_log is None else self.frozen_log
        return PlatformView(day=self.sim.day, request=self.sim.tick,
                            users=readonly(self.served_users()),
                            n_available=self.sim.n_available, log=log.readonly(),
                            context=self.context, hidden=self.sim if privileged else None)

    def serve(self, slates: np.ndarray) -> tuple[Feedback, LoggedFeedback]:
        """Show one slate to each served user and log the response.

        Args:
            slates: [m, k] item ids, one row per user of :meth:`served_users`, in that order.
        Returns:
            the simulator's feedback (hidden quantities included: for recorders) and what the
            platform logged (for policies).
        Raises:
            SlateError: malformed slates (nothing changes).
        """
        fb = self.sim.serve(slates, self.served_users())
        self._served = None
        assert self._last is not None
        return fb, self._last

    def respawn(self, users: IntArray) -> None:
        """Churned ``users`` come back as new accounts with the same personas (see
        :meth:`Simulator.respawn`); the platform forgets what it logged about them."""
        users = np.asarray(users, np.int64)
        self.sim.respawn(users)
        self.log.reset_users(users)
        self._served = None

    def freeze_log(self) -> None:
        """From now on views show the log as it is now (a frozen policy's knowledge)."""
        self.frozen_log = self.log.copy()

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict[str, Any]:
        return {"sim": self.sim.get_state(), "log": self.log.state(),
                "frozen_log": None if self.frozen_log is None else self.frozen_log.state()}

    def set_state(self, state: dict[str, Any]) -> None:
        self.sim.set_state(state["sim"])
        self.log.set_state(state["log"])
        if state["frozen_log"] is None:
            self.frozen_log = None
        else:
            self.frozen_log = self.log.copy()
            self.frozen_log.set_state(state["frozen_log"])
        self._served = None


__all__ = ["EMA_RATE", "RECENT", "RECENT_SKIPPED", "LoggedFeedback", "Platform", "PlatformLog",
           "PlatformLogView", "PlatformView", "PolicyContext", "PublicCatalog", "readonly"]
