"""Trajectory store: what happened in a run, in columnar form, to recompute metrics or replay.

Three log levels (``--log-level``), each including the one before:

* ``daily``: the daily aggregates (``daily.csv``) and one row per user (``users`` table:
  arrival, churn day or censoring, clicks, group labels) — enough for every curve and for
  Kaplan-Meier survival;
* ``user-day``: per user and day, arrays [days, n_users] of visits, requests, clicks,
  satisfaction and churn;
* ``request``: every request: day, tick, users served, their slates, clicked positions,
  realised satisfaction and the logged dwell of each click (``req_dwell``, NaN where no click;
  absent from files written before it existed) — enough for
  :class:`~recsim_llm.agents.replay.ReplayPolicy` to re-run the run exactly without the
  original policy, and for a learner to train on another policy's logs (the platform-view part:
  slates, clicks, dwell; ``recsim_llm.agents.llm.runlog``).

Arrays are saved as compressed ``.npz`` files (one per policy and seed) next to a JSON manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsim_llm.simulator import Feedback, Simulator, World

LOG_LEVELS = ("daily", "user-day", "request")


def check_log_level(level: str) -> str:
    if level not in LOG_LEVELS:
        raise ValueError(f"unknown log level {level!r}; valid log levels: {list(LOG_LEVELS)}")
    return level


@dataclass
class TrajectoryLogger:
    """Listens to a simulator and keeps the arrays of the chosen log level."""

    world: World
    level: str = "daily"
    visits: list[np.ndarray] = field(default_factory=list)
    requests: list[np.ndarray] = field(default_factory=list)
    clicks: list[np.ndarray] = field(default_factory=list)
    satisfaction: list[np.ndarray] = field(default_factory=list)
    churned: list[np.ndarray] = field(default_factory=list)
    req_day: list[int] = field(default_factory=list)
    req_tick: list[int] = field(default_factory=list)
    req_users: list[np.ndarray] = field(default_factory=list)
    req_slates: list[np.ndarray] = field(default_factory=list)
    req_positions: list[np.ndarray] = field(default_factory=list)
    req_satisfaction: list[np.ndarray] = field(default_factory=list)
    req_dwell: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_log_level(self.level)
        n = self.world.n_users
        self.churn_day = np.full(n, -1, np.int64)
        self.total_clicks = np.zeros(n, np.int64)
        self.total_requests = np.zeros(n, np.int64)
        self.visit_days = np.zeros(n, np.int64)

    def attach(self, sim: Simulator) -> TrajectoryLogger:
        sim.on_request.append(self.on_request)
        sim.on_day_end.append(self.on_day_end)
        return self

    def on_request(self, fb: Feedback) -> None:
        self.total_requests[fb.users] += 1
        self.total_clicks[fb.users[fb.clicked]] += 1
        if self.level == "request":
            self.req_day.append(fb.day)
            self.req_tick.append(fb.tick)
            self.req_users.append(fb.users.astype(np.int32))
            self.req_slates.append(fb.slates.astype(np.int32))
            self.req_positions.append(fb.positions.astype(np.int32))
            self.req_satisfaction.append(fb.satisfaction.astype(np.float32))
            dwell = fb.dwell if fb.dwell is not None else np.full(len(fb.users), np.nan)
            self.req_dwell.append(np.asarray(dwell, np.float32))

    def on_day_end(self, sim: Simulator, day: int) -> None:
        st = sim.state
        visited = st.visited_today & (st.day_requests > 0)
        self.visit_days += visited
        # Churn is decided at the start of the next day; the day recorded is the last day the
        # user could still have come back (the day their churn became final, 1-based).
        newly = st.churned & (self.churn_day < 0)
        self.churn_day[newly] = day
        if self.level in ("user-day", "request"):
            self.visits.append(visited.copy())
            # int32: a user's requests per day reach any session budget (int16 wrapped at
            # 32,767: -32536 where users.csv said 33000).
            self.requests.append(st.day_requests.astype(np.int32))
            self.clicks.append(st.day_clicks.astype(np.int32))
            day_mean = st.day_sat_sum / np.maximum(st.day_requests, 1)
            self.satisfaction.append(np.where(visited, day_mean, np.nan).astype(np.float32))
            self.churned.append(st.churned.copy())

    def finish(self, sim: Simulator) -> None:
        """Record churn decided after the last day callback."""
        newly = sim.state.churned & (self.churn_day < 0)
        self.churn_day[newly] = sim.day

    def users_table(self, labels: dict[str, Any]) -> pd.DataFrame:
        """One row per user: survival data (duration, event) and totals."""
        w = self.world
        arrival = w.user_arrival()
        horizon = w.cfg.horizon_days
        event = self.churn_day >= 0
        # Duration in days from arrival to churn (event) or to the horizon (censored).
        duration = np.where(event, self.churn_day - arrival, horizon - arrival)
        df = pd.DataFrame({**labels, "user": np.arange(w.n_users),
                           "user_id": w.personas.user_ids, "arrival_day": arrival,
                           "churned": event, "duration": duration,
                           "visit_days": self.visit_days, "requests": self.total_requests,
                           "clicks": self.total_clicks})
        for key, vals in w.personas.groups.items():
            df[f"group:{key}"] = vals
        return df

    def arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {"churn_day": self.churn_day}
        if self.level in ("user-day", "request"):
            out.update(visits=np.array(self.visits), requests=np.array(self.requests),
                       clicks=np.array(self.clicks), satisfaction=np.array(self.satisfaction),
                       churned=np.array(self.churned))
        if self.level == "request":
            lengths = np.array([len(u) for u in self.req_users], np.int64)
            k = self.world.cfg.slate_size
            out.update(
                req_day=np.array(self.req_day, np.int32), req_tick=np.array(self.req_tick,
                                                                            np.int32),
                req_offsets=np.concatenate([[0], np.cumsum(lengths)]),
                req_users=np.concatenate(self.req_users) if self.req_users else np.zeros(
                    0, np.int32),
                req_slates=np.concatenate(self.req_slates) if self.req_slates else np.zeros(
                    (0, k), np.int32),
                req_positions=np.concatenate(self.req_positions) if self.req_positions
                else np.zeros(0, np.int32),
                req_satisfaction=np.concatenate(self.req_satisfaction) if self.req_satisfaction
                else np.zeros(0, np.float32),
                req_dwell=np.concatenate(self.req_dwell) if self.req_dwell
                else np.zeros(0, np.float32))
        return out

    def state(self) -> dict[str, Any]:
        return {k: (v.copy() if isinstance(v, np.ndarray) else list(v))
                for k, v in vars(self).items() if k not in ("world", "level")}

    def set_state(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v.copy() if isinstance(v, np.ndarray) else list(v))
        if "req_dwell" not in state:
            # A checkpoint written before the dwell was logged: its requests get NaN dwell, so
            # the arrays stay aligned with req_users.
            self.req_dwell = [np.full(len(u), np.nan, np.float32) for u in self.req_users]


@dataclass(frozen=True)
class Trajectory:
    """A saved run's arrays (see :class:`TrajectoryLogger` for the keys) and its labels."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]

    @property
    def level(self) -> str:
        return str(self.meta["log_level"])

    def requests(self) -> list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
        """Per request: (day, tick, users [m], slates [m, k], positions [m])."""
        if "req_offsets" not in self.arrays:
            raise ValueError(f"trajectory was logged at level {self.level!r}; replay needs "
                             f"'request'")
        a, off = self.arrays, self.arrays["req_offsets"]
        return [(int(a["req_day"][i]), int(a["req_tick"][i]),
                 a["req_users"][off[i]:off[i + 1]].astype(np.int64),
                 a["req_slates"][off[i]:off[i + 1]].astype(np.int64),
                 a["req_positions"][off[i]:off[i + 1]].astype(np.int64))
                for i in range(len(off) - 1)]

    def request_dwell(self) -> np.ndarray:
        """[total served] logged dwell per served user and request, aligned with ``req_users``
        (NaN where no click). A trajectory saved before the dwell was logged gives all NaN."""
        if "req_offsets" not in self.arrays:
            raise ValueError(f"trajectory was logged at level {self.level!r}; the dwell needs "
                             f"'request'")
        n = len(self.arrays["req_users"])
        if "req_dwell" not in self.arrays:
            return np.full(n, np.nan, np.float32)
        return self.arrays["req_dwell"].astype(np.float32)


def save_trajectory(path: Path, logger: TrajectoryLogger, meta: dict[str, Any]) -> None:
    """Write ``path`` (.npz) and ``path.with_suffix('.json')`` (meta with the npz's sha256).

    Each file is written atomically (unique temporary name, rename, removed on failure); the
    json is written last, so a trajectory whose json verifies is complete.
    """
    from recsim_llm.integrity import code_version, write_atomic, write_bytes_atomic

    def write_npz(tmp: Path) -> None:
        # np.savez_compressed stamps each member with the current time; a fixed stamp makes the
        # file (and its sha256) a function of the arrays only, so a resumed run writes the same
        # bytes as an uninterrupted one.
        import zipfile

        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, arr in logger.arrays().items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                with zf.open(info, "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, np.asanyarray(arr), allow_pickle=False)

    write_atomic(path, write_npz)
    meta = {**meta, "log_level": logger.level, "code_version": code_version(),
            "sha256": _sha256(path)}
    write_bytes_atomic(path.with_suffix(".json"), json.dumps(meta, indent=2).encode())


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_trajectory(path: str | Path) -> dict[str, Any]:
    """Check a saved trajectory against the sha256 in its json; return the json.

    Raises:
        IntegrityError: a file is missing, the json is unreadable or the npz's checksum differs
            (one line naming the file).
    """
    from recsim_llm.integrity import IntegrityError

    path = Path(path)
    mpath = path.with_suffix(".json")
    for p in (path, mpath):
        if not p.is_file():
            raise IntegrityError(f"trajectory file {p} is missing")
    try:
        meta = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise IntegrityError(f"trajectory manifest {mpath} is damaged ({err})") from err
    if not isinstance(meta, dict):
        raise IntegrityError(f"trajectory manifest {mpath} is not a JSON object")
    want = meta.get("sha256")
    if want is not None and _sha256(path) != want:
        raise IntegrityError(f"trajectory file {path} is damaged (sha256 differs from {mpath})")
    return meta


def load_trajectory(path: str | Path) -> Trajectory:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"trajectory file not found: {path}")
    mpath = path.with_suffix(".json")
    if not mpath.is_file():
        raise FileNotFoundError(f"trajectory manifest not found: {mpath}")
    from recsim_llm.integrity import IntegrityError

    try:
        meta = verify_trajectory(path)
    except IntegrityError as err:
        raise ValueError(str(err)) from err
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    return Trajectory(arrays=arrays, meta=meta)
