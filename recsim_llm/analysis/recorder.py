"""Per-day aggregates of a running simulation: the rows of ``daily.csv``.

A :class:`DailyRecorder` listens to a :class:`~recsim_llm.simulator.Simulator` (``on_request``
and ``on_day_end``) and keeps only O(users + items) running sums, so recording costs little next
to the simulation itself. Column definitions: ``docs/metrics.md``.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from recsim_llm.analysis import metrics as M
from recsim_llm.analysis.accuracy import AccuracyProbe
from recsim_llm.simulator import Feedback, Simulator, World
from recsim_llm.users import dynamics as dyn

DAILY_COLUMNS = (
    "scenario", "policy", "seed", "day", "active_users", "retention", "ctr",
    "clicks_per_active_user", "mean_satisfaction", "intra_list_diversity", "topic_entropy",
    "coverage", "exposure_gini", "homogenization",
)
"""Columns every daily table has (more follow: see :meth:`DailyRecorder.on_day_end`)."""


class DailyRecorder:
    """Accumulates one simulation's requests and emits a dict row per day.

    Args:
        world: the simulated world (for topics, providers, groups).
        labels: constant columns, e.g. {"scenario": ..., "policy": ..., "seed": ...}.
        window: days of recommendations in the per-user exposure topic-entropy window.
        recent: clicks per user remembered for consumed-topic entropy and consumption overlap.
        accuracy_sample: users (the first of the pair sample) whose first slate each day is
            scored against the ground truth (precision/recall/MAP/NDCG at k).
        train_days: days labelled ``phase = "train"`` (the rest ``"eval"``).
        pair_sample: users (at most) among which each is paired with its most similar user by
            persona interest, for the Jaccard homogenization (Chaney et al. 2018).
    """

    def __init__(self, world: World, labels: dict[str, Any], window: int = 7, recent: int = 10,
                 pair_sample: int = 2000, accuracy_sample: int = 500,
                 train_days: int = 0) -> None:
        self.world, self.labels, self.window = world, labels, int(window)
        self.train_days = int(train_days)
        n, cat = world.n_users, world.catalog
        self.k = world.cfg.slate_size
        self._topic_w = cat.topic_onehot()                          # [m, T]
        self._expo = np.zeros((self.window, n, cat.n_topics), np.int32)  # shown primary topics
        self._expo_sum = np.zeros((n, cat.n_topics), np.int32)          # running window sum
        self._recent = np.full((n, recent), -1, np.int64)           # ring buffer of clicks
        self._ptr = np.zeros(n, np.int64)
        # Pairs by *true* initial preference; a fixed sample keeps this O(sample^2) once.
        rng = np.random.default_rng(np.random.SeedSequence(0, spawn_key=(n,)))
        sample = np.sort(rng.choice(n, size=min(n, pair_sample), replace=False))
        self._pair_a = sample
        self._pair_b = (sample[M.nearest_neighbours(world.mean_interest0()[sample])] if n > 1
                        else sample)
        self.rows: list[dict[str, Any]] = []
        self._prev_visited = np.zeros(n, bool)
        # Accuracy needs scores over all items per evaluated user: a smaller fixed sample.
        self._accuracy = AccuracyProbe(world, self._pair_a[:accuracy_sample])
        self.group_rows: list[dict[str, Any]] = []
        # Clicks of the day-0 cohort, churned users included (as zeros): unlike CTR among
        # survivors it does not flatter a policy that lost its users.
        self._initial = world.user_arrival() == 0                  # [n] bool
        self._n_initial = max(int(self._initial.sum()), 1)
        self._initial_clicks = 0
        self._reset_day()

    def _reset_day(self) -> None:
        m = self.world.n_items
        self._impressions = np.zeros(m, np.int64)
        self._requests = 0
        self._clicks = 0
        self._ild_sum = 0.0
        slot = self._expo[len(self.rows) % self.window]
        self._expo_sum -= slot  # the day leaving the window
        slot[:] = 0

    _STATE = ("rows", "group_rows", "_recent", "_ptr", "_expo", "_expo_sum", "_impressions",
              "_requests", "_clicks", "_ild_sum", "_prev_visited", "_initial_clicks")

    def state(self) -> dict[str, Any]:
        """Everything that changes during a run (for checkpoints)."""
        acc = self._accuracy
        # Rows are never edited once appended: a shallow copy of the lists is a snapshot, and
        # it keeps a checkpoint's cost independent of the day reached (append-only checkpoints).
        return {**{k: (list(getattr(self, k)) if k in ("rows", "group_rows")
                       else copy.deepcopy(getattr(self, k))) for k in self._STATE},
                "accuracy": (acc._seen_day.copy(), dict(acc._sums), dict(acc._counts))}

    def set_state(self, state: dict[str, Any]) -> None:
        for k in self._STATE:
            setattr(self, k, copy.deepcopy(state[k]))
        seen, sums, counts = state["accuracy"]
        self._accuracy._seen_day = seen.copy()
        self._accuracy._sums, self._accuracy._counts = dict(sums), dict(counts)

    def attach(self, sim: Simulator) -> DailyRecorder:
        self._accuracy.attach(sim)
        sim.on_request.append(self.on_request)
        sim.on_day_end.append(self.on_day_end)
        return self

    def on_request(self, fb: Feedback) -> None:
        self._impressions += np.bincount(fb.slates.ravel(), minlength=len(self._impressions))
        self._requests += len(fb.users)
        clicked = fb.clicked
        self._clicks += int(clicked.sum())
        self._initial_clicks += int(self._initial[fb.users[clicked]].sum())
        self._ild_sum += float(M.intra_list_diversity(fb.slate_mean_emb, self.k).sum())
        # Counts over the served rows only (a bincount of m * T cells, then one indexed add):
        # O(m (k + T)) per request, not O(n_users * T); users are distinct within a request.
        m, t = len(fb.users), self._expo.shape[2]
        local = np.arange(m)[:, None] * t + self.world.catalog.topics[fb.slates]
        counts = np.bincount(local.ravel(), minlength=m * t).reshape(m, t).astype(np.int32)
        self._expo[len(self.rows) % self.window][fb.users] += counts
        self._expo_sum[fb.users] += counts
        if clicked.any():
            cu = fb.users[clicked]
            self._recent[cu, self._ptr[cu] % self._recent.shape[1]] = fb.items[clicked]
            self._ptr[cu] += 1

    def on_day_end(self, sim: Simulator, day: int) -> None:
        st, cat = sim.state, self.world.catalog
        joined, alive, visited = st.joined, st.alive, st.visited_today & (st.day_requests > 0)
        n_joined, n_active = int(joined.sum()), int(visited.sum())
        a = sim.n_available
        imp = self._impressions[:a]
        trap = sim.trap_items()[:a]   # today's (the supply side moves it overnight)
        rec = self._recent
        topic_counts = np.einsum("nr,nrt->nt", (rec >= 0).astype(np.float32),
                                 self._topic_w[np.maximum(rec, 0)])     # [n, T]
        # Consumed-topic entropy over a full window only: fewer clicks would bias it low.
        full = alive & (rec[:, -1] >= 0)
        expo = self._expo_sum                                               # [n, T]
        shown = alive & (expo.sum(axis=1) > 0)
        pa, pb = self._pair_a, self._pair_b
        both = alive[pa] & alive[pb] & (rec[pa, 0] >= 0) & (rec[pb, 0] >= 0)
        jac = M.jaccard_rows(rec[pa[both]], rec[pb[both]])
        day_mean_sat = st.day_sat_sum / np.maximum(st.day_requests, 1)
        row: dict[str, Any] = {
            **self.labels,
            "day": day + 1,  # day 1 is the first simulated day
            "phase": "train" if day < self.train_days else "eval",
            "active_users": n_active,
            "retention": float(alive.sum() / max(n_joined, 1)),
            "ctr": self._clicks / self._requests if self._requests else float("nan"),
            "clicks_per_active_user": self._clicks / n_active if n_active else float("nan"),
            "cumulative_clicks_per_initial_user": self._initial_clicks / self._n_initial,
            "mean_satisfaction": float(day_mean_sat[visited].mean()) if n_active else float("nan"),
            "intra_list_diversity": (self._ild_sum / self._requests if self._requests
                                     else float("nan")),
            "topic_entropy": (float(M.entropy_bits(expo[shown]).mean()) if shown.any()
                              else float("nan")),
            "coverage": M.coverage(imp),
            "exposure_gini": M.gini(imp),
            "homogenization": float(np.nanmean(jac)) if both.any() else float("nan"),
            "interest_homogenization": M.mean_pairwise_cosine(
                dyn.mean_interest(st.interest[alive], st.interest_logw[alive])),
            "consumed_topic_entropy": (float(M.entropy_bits(topic_counts[full]).mean())
                                       if full.any() else float("nan")),
            "active_share": n_active / max(n_joined, 1),
            "return_rate": (float((visited & self._prev_visited).sum() / self._prev_visited.sum())
                            if self._prev_visited.any() else float("nan")),
            "session_length": (float(st.day_requests[visited].sum()
                                     / max(int(st.day_sessions[visited].sum()), 1))
                               if n_active else float("nan")),
            "joined_users": n_joined,
            "requests": self._requests,
            "clicks": self._clicks,
            "satisfaction_ema": float(st.satisfaction[alive].mean()) if alive.any()
            else float("nan"),
            "drift_from_persona": float(1.0 - np.einsum(
                "nkd,nkd,nk->n", st.interest[alive], st.interest0[alive],
                np.exp(st.interest_logw[alive])).mean()) if alive.any() else float("nan"),
            "trap_exposure": (float(imp[trap].sum() / imp.sum()) if imp.sum()
                              else float("nan")),
            "catalog_trap_share": float(trap.mean()) if a else float("nan"),
            "hook_effort": sim.mean_hook_effort(),
            "available_items": a,
        }
        total_imp = max(int(imp.sum()), 1)
        merit = (cat.value[:a] + 1.0) / 2.0  # value mapped to [0, 1]
        total_merit = max(float(merit.sum()), 1e-12)
        for g, gname in enumerate(cat.provider_group_names):
            in_g = cat.provider_group[:a] == g
            expo_share = float(imp[in_g].sum() / total_imp)
            merit_share = float(merit[in_g].sum() / total_merit)
            row[f"exposure_share:{gname}"] = expo_share
            row[f"merit_share:{gname}"] = merit_share
            row[f"disparity:{gname}"] = (expo_share / merit_share if merit_share > 0
                                         else float("nan"))
        row["provider_exposure_gini"] = M.gini(
            np.bincount(cat.provider[:a], weights=imp, minlength=int(cat.provider.max()) + 1))
        row.update(self._accuracy.day_means())
        self.rows.append(row)
        self._prev_visited = visited.copy()
        for key, labels in self.world.personas.groups.items():
            for gval in np.unique(labels):
                mask = joined & (labels == gval)
                if not mask.any():
                    continue
                act = visited & mask
                req = int(st.day_requests[mask].sum())
                self.group_rows.append({
                    **self.labels, "day": day + 1, "group_key": key, "group": str(gval),
                    "users": int(mask.sum()),
                    "retention": float((alive & mask).sum() / mask.sum()),
                    "active_share": float(act.sum() / mask.sum()),
                    "ctr": float(st.day_clicks[mask].sum() / req) if req else float("nan"),
                    "mean_satisfaction": float(day_mean_sat[act].mean()) if act.any()
                    else float("nan")})
        self._reset_day()
