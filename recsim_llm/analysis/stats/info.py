"""Names, units and ranges of the metric columns."""

from __future__ import annotations

from dataclasses import dataclass

ID_COLUMNS = ("scenario", "policy", "seed", "day")
"""Identifier columns of ``daily.csv`` (not metrics)."""

GROUP_ID_COLUMNS = (*ID_COLUMNS, "group_key", "group")
"""Identifier columns of ``groups.csv`` (not metrics)."""

EXPOSURE_PREFIX = "exposure_share:"
"""Prefix of the per-provider-group exposure-share columns of ``daily.csv``."""

MINORITY_EXPOSURE = "minority_exposure_share"
"""Alias accepted wherever a metric is named: the exposure share of the minority provider group
(resolved by :func:`minority_exposure_column`)."""

HEADLINE_METRICS = (
    "retention", "cumulative_clicks_per_initial_user", "ctr", "mean_satisfaction",
    "topic_entropy", "intra_list_diversity",
    "coverage", "exposure_gini", "homogenization", MINORITY_EXPOSURE, "provider_exposure_gini",
    "ndcg_at_k",
)
"""Metrics of :func:`headline_table` / :func:`paired_table` by default (those present)."""

DEFAULT_WINDOW = "last 10 days"

EARLY_WINDOW = "first 7 days"
"""The report's early window, shown next to :data:`DEFAULT_WINDOW`."""


@dataclass(frozen=True)
class MetricInfo:
    """How to present a metric.

    Attributes:
        name: the column name.
        label: human name, e.g. "Click-through rate".
        unit: unit or scale of the values, e.g. "clicks / slate".
        higher_is_better: True / False where one direction is desirable, None where it is not.
        lower, upper: the range the quantity can take (None = unbounded on that side). It
            chooses the interval (:func:`~recsim_llm.analysis.stats.intervals.range_ci`) and
            the plot axes, so that no band shows what cannot be.
    """

    name: str
    label: str
    unit: str
    higher_is_better: bool | None = None
    lower: float | None = None
    upper: float | None = None


_P = {"lower": 0.0, "upper": 1.0}   # a proportion / share / index in [0, 1]
_N = {"lower": 0.0}                 # a non-negative amount
_S = {"lower": -1.0, "upper": 1.0}  # a score or cosine in [-1, 1]
_C = {"lower": 0.0, "upper": 2.0}   # one minus a cosine

_INFO = {m.name: m for m in (
    MetricInfo("active_users", "Active users", "users", True, **_N),
    MetricInfo("retention", "Retention", "share of joined users not churned", True, **_P),
    MetricInfo("ctr", "Click-through rate", "clicks / slate", True, **_P),
    MetricInfo("clicks_per_active_user", "Clicks per active user", "clicks / user / day", True,
               **_N),
    MetricInfo("cumulative_clicks_per_initial_user", "Cumulative clicks per initial user",
               "clicks since day 1 / users of day 0", True, **_N),
    # Realised satisfaction y = a - b + w_value * value + noise has no bound (Gaussian noise,
    # taste and value each up to 1 in magnitude): a plain t interval, no clipped axis.
    MetricInfo("mean_satisfaction", "Mean satisfaction", "realised satisfaction y", True),
    MetricInfo("intra_list_diversity", "Intra-list diversity", "1 - mean pairwise cosine", True,
               **_C),
    MetricInfo("topic_entropy", "Exposure topic entropy", "bits", True, **_N),
    MetricInfo("coverage", "Catalog coverage", "share of items shown", True, **_P),
    MetricInfo("exposure_gini", "Exposure Gini", "Gini in [0, 1)", False, **_P),
    MetricInfo("homogenization", "Homogenization", "Jaccard of neighbours' clicks", False, **_P),
    MetricInfo("interest_homogenization", "Interest homogenization", "mean pairwise cosine",
               False, **_S),
    MetricInfo("consumed_topic_entropy", "Consumed topic entropy", "bits", True, **_N),
    MetricInfo("active_share", "Active share", "share of joined users active", True, **_P),
    MetricInfo("return_rate", "Return rate", "share of yesterday's visitors back", True, **_P),
    MetricInfo("session_length", "Session length", "requests / session", None, **_N),
    MetricInfo("joined_users", "Joined users", "users", None, **_N),
    MetricInfo("requests", "Requests", "slates / day", None, **_N),
    MetricInfo("clicks", "Clicks", "clicks / day", True, **_N),
    MetricInfo("satisfaction_ema", "Satisfaction (EMA)", "EMA of realised satisfaction", True),
    MetricInfo("drift_from_persona", "Drift from persona", "1 - cos(interest, persona)", None,
               **_C),
    MetricInfo("available_items", "Available items", "items", None, **_N),
    MetricInfo("users", "Users", "users", None, **_N),
    MetricInfo("hazard", "Daily churn hazard", "share of at-risk users churned", False, **_P),
    MetricInfo("provider_exposure_gini", "Provider exposure Gini", "Gini in [0, 1)", False, **_P),
    MetricInfo("precision_at_k", "Precision@k", "share of slate relevant", True, **_P),
    MetricInfo("recall_at_k", "Recall@k", "share of relevant items shown", True, **_P),
    MetricInfo("map_at_k", "MAP@k", "mean average precision", True, **_P),
    MetricInfo("ndcg_at_k", "NDCG@k", "normalised DCG in [0, 1]", True, **_P),
    MetricInfo("gap", "Group gap", "difference"),
    MetricInfo("survival", "Survival (not churned)", "share of users", True, **_P),
)}

_PREFIXED = {
    EXPOSURE_PREFIX: ("Exposure share: {}", "share of impressions", 0.0, 1.0),
    "merit_share:": ("Merit share: {}", "share of total item merit (value in [0, 1])", 0.0,
                     1.0),
    "disparity:": ("Exposure / merit: {}", "exposure share / merit share (1 = fair)", 0.0, None),
}


def metric_info(metric: str) -> MetricInfo:
    """Human name and unit of a metric column (a generic one for columns not known here)."""
    if metric in _INFO:
        return _INFO[metric]
    for prefix, (label, unit, lo, hi) in _PREFIXED.items():
        if metric.startswith(prefix):
            return MetricInfo(metric, label.format(metric[len(prefix):]), unit, None, lo, hi)
    if metric == MINORITY_EXPOSURE:
        return MetricInfo(metric, "Minority provider exposure share", "share of impressions",
                          None, 0.0, 1.0)
    return MetricInfo(metric, metric.replace("_", " ").capitalize(), "")


class NoConfidenceBandWarning(UserWarning):
    """Only one seed: means are shown without a confidence band."""


