"""Ranking accuracy against the simulator's ground truth (precision, recall, MAP, NDCG @ k).

The simulator knows what each user would truly click *now*: the click utility
``v_ui = temperature * (a_ui - b_ui) + h_u * appeal_i`` of every available item
(:func:`recsim_llm.users.dynamics.click_utility`, the simulator's own), from the hidden
interests, dislikes, fatigue, hook susceptibility and appeal. An item is **relevant** when it
would be clicked with probability > 1/2 if shown alone (``v_ui > no_click_utility``); its graded
**gain** for NDCG is that probability, ``sigmoid(v_ui - no_click_utility)``. Each sampled user is
evaluated on the first slate they are served each day, against the state *before* that request.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from recsim_llm.simulator import Feedback, Simulator, World
from recsim_llm.users import dynamics as dyn

ACCURACY_COLUMNS = ("precision_at_k", "recall_at_k", "map_at_k", "ndcg_at_k")


def ranking_metrics(slates: npt.NDArray[np.int64], relevant: npt.NDArray[np.bool_],
                    gains: npt.NDArray[np.floating]) -> dict[str, npt.NDArray[np.float64]]:
    """Per-slate precision@k, recall@k, AP@k and NDCG@k.

    Args:
        slates: [s, k] item ids, best first.
        relevant: [s, n_items] binary relevance.
        gains: [s, n_items] graded gains in [0, 1] for NDCG.
    Returns:
        dict of [s] arrays; recall and AP are NaN for users with no relevant item.
    """
    s, k = slates.shape
    rows = np.arange(s)[:, None]
    hits = relevant[rows, slates].astype(np.float64)                     # [s, k]
    n_rel = relevant.sum(axis=1)
    precision = hits.mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(n_rel > 0, hits.sum(axis=1) / n_rel, np.nan)
        prec_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
        ap = np.where(n_rel > 0, (prec_at * hits).sum(axis=1) / np.minimum(n_rel, k), np.nan)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (gains[rows, slates] * disc).sum(axis=1)
    ideal = -np.sort(-gains, axis=1)[:, :k]
    idcg = (ideal * disc[: ideal.shape[1]]).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ndcg = np.where(idcg > 0, dcg / idcg, np.nan)
    return {"precision_at_k": precision, "recall_at_k": recall, "map_at_k": ap,
            "ndcg_at_k": ndcg}


class AccuracyProbe:
    """Evaluates the first slate of the day of a fixed sample of users (needs the simulator).

    Attach with :meth:`attach`; the recorder reads :meth:`day_means` at the end of each day.
    """

    def __init__(self, world: World, sample: npt.NDArray[np.int64]) -> None:
        self.world = world
        self.in_sample = np.zeros(world.n_users, bool)
        self.in_sample[sample] = True
        self._seen_day = np.full(world.n_users, -1, np.int64)
        self._sums = dict.fromkeys(ACCURACY_COLUMNS, 0.0)
        self._counts = dict.fromkeys(ACCURACY_COLUMNS, 0)

    def attach(self, sim: Simulator) -> AccuracyProbe:
        sim.before_request.append(self.before_request)
        return self

    def before_request(self, sim: Simulator, users: npt.NDArray[np.int64],
                       slates: npt.NDArray[np.int64]) -> None:
        pick = self.in_sample[users] & (self._seen_day[users] != sim.day)
        if not pick.any():
            return
        u = users[pick]
        self._seen_day[u] = sim.day
        ch, st, a = sim.cfg.choice, sim.state, sim.n_available
        aff, bor = dyn.all_item_terms(st.interest[u], st.interest_logw[u], st.dislike[u],
                                      st.fatigue[u], self.world.item_emb[:a], ch.lam_dislike,
                                      ch.beta_fatigue, ch.pool_temperature)
        v = dyn.click_utility(aff, bor, sim.appeal[:a], st.hook[u][:, None],
                              ch.temperature)
        margin = v - ch.no_click_utility
        res = ranking_metrics(slates[pick], margin > 0, 1.0 / (1.0 + np.exp(-margin)))
        for key, vals in res.items():
            ok = np.isfinite(vals)
            self._sums[key] += float(vals[ok].sum())
            self._counts[key] += int(ok.sum())

    def on_request(self, fb: Feedback) -> None:  # accuracy is taken before the request
        return None

    def day_means(self) -> dict[str, float]:
        out = {k: (self._sums[k] / self._counts[k] if self._counts[k] else float("nan"))
               for k in ACCURACY_COLUMNS}
        self._sums = dict.fromkeys(ACCURACY_COLUMNS, 0.0)
        self._counts = dict.fromkeys(ACCURACY_COLUMNS, 0)
        return out
