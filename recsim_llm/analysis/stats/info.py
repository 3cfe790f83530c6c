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
    "retention", "ctr", "mean_satisfaction", "topic_entropy", "intra_list_diversity",
    "coverage", "exposure_gini", "homogenization", MINORITY_EXPOSURE, "provider_exposure_gini",
    "ndcg_at_k",
)
"""Metrics of :func:`headline_table` / :func:`paired_table` by default (those present)."""

DEFAULT_WINDOW = "last 10 days"


@dataclass(frozen=True)
class MetricInfo:
    """How to present a metric.

    Attributes:
        name: the column name.
        label: human name, e.g. "Click-through rate".
        unit: unit or scale of the values, e.g. "clicks / slate".
        higher_is_better: True / False where one direction is desirable, None where it is not.
    """

    name: str
    label: str
    unit: str
    higher_is_better: bool | None = None


_INFO = {m.name: m for m in (
    MetricInfo("active_users", "Active users", "users", True),
    MetricInfo("retention", "Retention", "share of joined users not churned", True),
    MetricInfo("ctr", "Click-through rate", "clicks / slate", True),
    MetricInfo("clicks_per_active_user", "Clicks per active user", "clicks / user / day", True),
    MetricInfo("mean_satisfaction", "Mean satisfaction", "score in [-1, 1]", True),
    MetricInfo("intra_list_diversity", "Intra-list diversity", "1 - mean pairwise cosine", True),
    MetricInfo("topic_entropy", "Exposure topic entropy", "bits", True),
    MetricInfo("coverage", "Catalog coverage", "share of items shown", True),
    MetricInfo("exposure_gini", "Exposure Gini", "Gini in [0, 1)", False),
    MetricInfo("homogenization", "Homogenization", "Jaccard of neighbours' clicks", False),
    MetricInfo("interest_homogenization", "Interest homogenization", "mean pairwise cosine",
               False),
    MetricInfo("consumed_topic_entropy", "Consumed topic entropy", "bits", True),
    MetricInfo("active_share", "Active share", "share of joined users active", True),
    MetricInfo("joined_users", "Joined users", "users"),
    MetricInfo("requests", "Requests", "slates / day"),
    MetricInfo("clicks", "Clicks", "clicks / day", True),
    MetricInfo("satisfaction_ema", "Satisfaction (EMA)", "score in [-1, 1]", True),
    MetricInfo("drift_from_persona", "Drift from persona", "1 - cos(interest, persona)"),
    MetricInfo("available_items", "Available items", "items"),
    MetricInfo("users", "Users", "users"),
    MetricInfo("hazard", "Daily churn hazard", "share of at-risk users churned", False),
    MetricInfo("provider_exposure_gini", "Provider exposure Gini", "Gini in [0, 1)", False),
    MetricInfo("precision_at_k", "Precision@k", "share of slate relevant", True),
    MetricInfo("recall_at_k", "Recall@k", "share of relevant items shown", True),
    MetricInfo("map_at_k", "MAP@k", "mean average precision", True),
    MetricInfo("ndcg_at_k", "NDCG@k", "normalised DCG in [0, 1]", True),
    MetricInfo("gap", "Group gap", "difference"),
    MetricInfo("survival", "Survival (not churned)", "share of users", True),
)}

_PREFIXED = {
    EXPOSURE_PREFIX: ("Exposure share: {}", "share of impressions"),
    "merit_share:": ("Merit share: {}", "share of total item quality"),
    "disparity:": ("Exposure / merit: {}", "exposure share / merit share (1 = fair)"),
}


def metric_info(metric: str) -> MetricInfo:
    """Human name and unit of a metric column (a generic one for columns not known here)."""
    if metric in _INFO:
        return _INFO[metric]
    for prefix, (label, unit) in _PREFIXED.items():
        if metric.startswith(prefix):
            return MetricInfo(metric, label.format(metric[len(prefix):]), unit)
    if metric == MINORITY_EXPOSURE:
        return MetricInfo(metric, "Minority provider exposure share", "share of impressions")
    return MetricInfo(metric, metric.replace("_", " ").capitalize(), "")


class NoConfidenceBandWarning(UserWarning):
    """Only one seed: means are shown without a confidence band."""


