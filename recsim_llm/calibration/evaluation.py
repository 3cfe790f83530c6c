"""Held-out protocols: within-user AUC (random or popularity-matched negatives), yes/no."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import mannwhitneyu, rankdata

from recsim_llm.calibration.constants import (
    DISLIKE_THRESHOLD,
    LIKE_THRESHOLD,
    POPULARITY_BINS,
    RATIOS,
    BoolArray,
    FloatArray,
    IntArray,
)
from recsim_llm.calibration.fit import (
    ChoiceFit,
)
from recsim_llm.simulator import World
from recsim_llm.users import dynamics as dyn

# --------------------------------------------------------------------------------------------
# held-out evaluation


def auc_score(pos_scores: FloatArray, neg_scores: FloatArray) -> float:
    """Mann-Whitney AUC: P(a positive scores above a negative), ties counting half.

    Args:
        pos_scores: [n_pos] scores of positives (>= 1 of them).
        neg_scores: [n_neg] scores of negatives (>= 1 of them).
    """
    pos_scores, neg_scores = np.asarray(pos_scores), np.asarray(neg_scores)
    if len(pos_scores) == 0 or len(neg_scores) == 0:
        raise ValueError("AUC needs at least one positive and one negative score")
    u = mannwhitneyu(pos_scores, neg_scores, alternative="two-sided").statistic
    return float(u) / (len(pos_scores) * len(neg_scores))


def per_user_auc(scores: FloatArray, pos: BoolArray, neg: BoolArray
                 ) -> tuple[FloatArray, IntArray]:
    """Within-user AUC of every row: positives vs negatives of that row only.

    Vectorised with row-wise ranks: cells that are neither positive nor negative are set to
    ``-inf`` so they take the lowest ranks, and the positives' rank sum among the included cells
    gives the Mann-Whitney U (ties count half).

    Args:
        scores: [n_users, n_items] finite scores.
        pos: [n_users, n_items] positive cells.
        neg: [n_users, n_items] negative cells (disjoint from ``pos``).

    Returns:
        ``(auc, n_pairs)``, each [n_users]; ``auc`` is NaN for a row without a positive or a
        negative.
    """
    if (pos & neg).any():
        raise ValueError("a cell cannot be both positive and negative")
    included = pos | neg
    s = np.where(included, scores, -np.inf)
    ranks = rankdata(s, axis=1)
    n_excl = (~included).sum(axis=1)
    n_pos = pos.sum(axis=1)
    n_neg = neg.sum(axis=1)
    rank_sum = np.where(pos, ranks - n_excl[:, None], 0.0).sum(axis=1)
    u = rank_sum - n_pos * (n_pos + 1) / 2.0
    pairs = n_pos * n_neg
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = np.where(pairs > 0, u / np.maximum(pairs, 1), np.nan)
    return auc, pairs.astype(np.int64)


def binary_metrics(y_true: BoolArray, y_pred: BoolArray) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of yes/no decisions (micro over all pairs).

    Precision (and F1) is 0 when nothing is predicted yes; recall is 0 without positives.
    """
    y_true = np.asarray(y_true, bool)
    y_pred = np.asarray(y_pred, bool)
    tp = int((y_true & y_pred).sum())
    fp = int((~y_true & y_pred).sum())
    fn = int((y_true & ~y_pred).sum())
    tn = int((~y_true & ~y_pred).sum())
    n = tp + fp + fn + tn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": (tp + tn) / n if n else float("nan"), "precision": precision,
            "recall": recall, "f1": f1, "n_pos": tp + fn, "n_neg": fp + tn}


@dataclass(frozen=True)
class HeldOut:
    """The held-out test set, shared by every model (common random numbers).

    Shapes: n = users, n_items = films.
    """

    liked: BoolArray
    """[n, n_items] held-out ratings >= 4"""
    disliked: BoolArray
    """[n, n_items] held-out ratings <= 2.5 (watched, not liked)"""
    unseen: BoolArray
    """[n, n_items] films the user never rated (in any period)"""
    neg_samples: dict[int, tuple[IntArray, IntArray]]
    """ratio m -> (user rows, item rows) of the sampled unseen films, ``m`` per liked film of the
    user (fewer when the user has fewer unseen films); nested across ratios"""
    n_capped_users: dict[int, int]
    """ratio m -> users who had fewer unseen films than ``m * n_liked`` (all were taken)"""

    @property
    def users(self) -> IntArray:
        """Rows of the users with at least one held-out liked film."""
        return np.flatnonzero(self.liked.any(axis=1))


def build_heldout(periods: pd.DataFrame, n_users: int, n_items: int, *,
                  ratios: Sequence[int] = RATIOS, rng: np.random.Generator,
                  like_threshold: float = LIKE_THRESHOLD,
                  dislike_threshold: float = DISLIKE_THRESHOLD) -> HeldOut:
    """Held-out liked films and, per ratio, sampled unseen films (without replacement per user).

    One uniform key per (user, film) is drawn once; a user's unseen films sorted by key give the
    negatives of every ratio as prefixes, so the 1:1 sample lies inside the 1:3 and 1:9 ones.

    Args:
        periods: :func:`split_periods` output.
        n_users: users (rows); ``periods.user`` indexes them.
        n_items: catalog size.
        ratios: unseen films per liked film.
        rng: generator of the keys.
        like_threshold: lowest liked rating.
        dislike_threshold: highest disliked rating.

    Raises:
        ValueError: the held-out period holds no liked film.
    """
    test = periods[periods["period"] == 2]
    if test.empty:
        raise ValueError("the held-out period is empty: no rating after the training period")
    hit = test[test["rating"] >= like_threshold]
    if hit.empty:
        raise ValueError(f"the held-out period is empty of liked films: none of its {len(test)} "
                         f"ratings is >= {like_threshold}, so there is nothing to evaluate")
    liked = np.zeros((n_users, n_items), bool)
    liked[hit["user"].to_numpy(), hit["item"].to_numpy()] = True
    low = test[test["rating"] <= dislike_threshold]
    disliked = np.zeros((n_users, n_items), bool)
    disliked[low["user"].to_numpy(), low["item"].to_numpy()] = True
    unseen = np.ones((n_users, n_items), bool)
    unseen[periods["user"].to_numpy(), periods["item"].to_numpy()] = False
    keys = rng.random((n_users, n_items))
    keys[~unseen] = 2.0
    order = np.argsort(keys, axis=1, kind="stable")
    n_liked = liked.sum(axis=1)
    n_unseen = unseen.sum(axis=1)
    samples: dict[int, tuple[IntArray, IntArray]] = {}
    capped: dict[int, int] = {}
    cols = np.arange(n_items)[None, :]
    for m in ratios:
        if int(m) < 1:
            raise ValueError(f"ratios must be >= 1, got {m}")
        want = int(m) * n_liked
        take = np.minimum(want, n_unseen)
        capped[int(m)] = int((want > n_unseen).sum())
        rows, pos = np.nonzero(cols < take[:, None])
        samples[int(m)] = (rows.astype(np.int64), order[rows, pos].astype(np.int64))
    return HeldOut(liked=liked, disliked=disliked, unseen=unseen, neg_samples=samples,
                   n_capped_users=capped)


def _score_matrix(fit: ChoiceFit, world: World, prior: FloatArray | None) -> FloatArray:
    """[n_users, n_items] utilities ``v`` of every (user, film)."""
    n_users, n_items = world.n_users, world.n_items
    v = np.zeros((n_users, n_items))
    if fit.text:
        assert world.interest_logw is not None
        cos_k = np.matmul(world.interest0, world.item_emb.T).transpose(0, 2, 1)  # [n, a, K]
        cos_p = dyn.pool_interests(cos_k, world.interest_logw[:, None, :],
                                   world.cfg.choice.pool_temperature).astype(np.float64)
        cos_q = world.dislike.astype(np.float64) @ world.item_emb.T.astype(np.float64)
        v += fit.temperature * (cos_p - fit.lam_dislike * np.maximum(cos_q, 0.0))
    if fit.prior and prior is not None:
        v += fit.w_prior * np.asarray(prior, np.float64)[None, :]
    return v


def _liked_vs_disliked(v: FloatArray, heldout: HeldOut) -> tuple[float, int]:
    """Mean within-user AUC of held-out liked vs disliked films, and the number of users."""
    both = np.flatnonzero(heldout.liked.any(axis=1) & heldout.disliked.any(axis=1))
    if len(both) == 0:
        return float("nan"), 0
    auc, _ = per_user_auc(v[both], heldout.liked[both], heldout.disliked[both])
    return float(np.nanmean(auc)), len(both)


def popularity_deciles(popularity: FloatArray, bins: int = POPULARITY_BINS) -> IntArray:
    """[n_items] training-popularity bin of each item, 0 .. bins - 1, by rank (ties share a bin).
    """
    r = rankdata(popularity, method="average")
    return np.minimum((bins * (r - 0.5) / len(r)).astype(np.int64), bins - 1)


def matched_auc(v: FloatArray, pos: BoolArray, neg: BoolArray, bins: IntArray
                ) -> tuple[float, int]:
    """Within-user AUC counting only (positive, negative) pairs in the same popularity bin: the
    negatives are matched to each positive's training popularity, so popularity alone scores
    about 0.5 and what is left is taste. Mean over users with a matched pair, and that count.

    Args:
        v: [n_users, n_items] scores; pos, neg: [n_users, n_items]; bins: [n_items].
    """
    wins = np.zeros(v.shape[0])
    pairs = np.zeros(v.shape[0], np.int64)
    for b in np.unique(bins):  # a loop over the (ten) bins, not over users or items
        cols = bins == b
        auc, n = per_user_auc(v[:, cols], pos[:, cols], neg[:, cols])
        wins += np.nan_to_num(auc) * n
        pairs += n
    ok = pairs > 0
    return (float(np.mean(wins[ok] / pairs[ok])) if ok.any() else float("nan"), int(ok.sum()))


def evaluate(fit: ChoiceFit, world: World, prior: FloatArray | None, heldout: HeldOut,
             popularity: FloatArray | None = None) -> dict[str, Any]:
    """Held-out AUC and yes/no decision metrics of a fitted model.

    Args:
        fit: the fitted constants.
        world: embeddings of the evaluation personas (rows = ``heldout`` rows).
        prior: [n_items] item prior of the evaluation period (ignored without a prior term).
        heldout: the test set (:func:`build_heldout`).
        popularity: [n_items] training-period popularity for the matched protocol (None: no
            ``auc_popularity_matched``).

    Returns:
        ``auc`` (mean over users of the within-user AUC, held-out liked vs all unseen films),
        ``auc_pairs`` (the same, users weighted by their pairs), ``auc_liked_vs_disliked``
        (within-user AUC of held-out liked vs held-out disliked films, mean over the
        ``n_users_liked_vs_disliked`` users with both: does the model know what a user will
        enjoy among what they watch), ``n_users``, ``n_liked``, and ``ratios``: ``"1:m"`` ->
        :func:`binary_metrics` of ``P > 0.5`` over the liked films and the sampled unseen films
        of that ratio.

    Raises:
        ValueError: no held-out liked film.
    """
    users = heldout.users
    if len(users) == 0:
        raise ValueError("the held-out period is empty of liked films: nothing to evaluate")
    v = _score_matrix(fit, world, prior)
    auc, pairs = per_user_auc(v[users], heldout.liked[users], heldout.unseen[users])
    p_yes = expit(v - fit.no_click_utility) > 0.5
    pu, pi = np.nonzero(heldout.liked)
    auc_ld, n_ld = _liked_vs_disliked(v, heldout)
    out: dict[str, Any] = {
        "auc": float(np.nanmean(auc)),
        "auc_pairs": float(np.nansum(auc * pairs) / pairs.sum()),
        "auc_liked_vs_disliked": auc_ld, "n_users_liked_vs_disliked": n_ld,
        "n_users": len(users), "n_liked": len(pu), "ratios": {}}
    if popularity is not None:
        out["auc_popularity_matched"], out["n_users_popularity_matched"] = matched_auc(
            v[users], heldout.liked[users], heldout.unseen[users],
            popularity_deciles(np.asarray(popularity, np.float64)))
    pos_pred = p_yes[pu, pi]
    for m, (nu, ni) in heldout.neg_samples.items():
        y_true = np.concatenate([np.ones(len(pu), bool), np.zeros(len(nu), bool)])
        y_pred = np.concatenate([pos_pred, p_yes[nu, ni]])
        out["ratios"][f"1:{m}"] = binary_metrics(y_true, y_pred)
    return out
