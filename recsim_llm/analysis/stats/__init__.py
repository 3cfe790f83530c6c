"""Statistics over the daily tables of an experiment: confidence intervals across seeds, paired
policy differences, headline tables, and survival (Kaplan-Meier, churn hazard).

The unit of replication is the **seed**: each seed builds one world on which every policy runs
with common random numbers (:mod:`recsim_llm.runner`), so a confidence interval is taken across
seeds, and two policies are compared by the per-seed difference (a paired design, much tighter
than comparing two independent means).

Everything here is a pure function of DataFrames / arrays: no global RNG, no plotting.
"""

from recsim_llm.analysis.stats.groups import default_focus_group, group_gap
from recsim_llm.analysis.stats.info import (
    DEFAULT_WINDOW,
    EARLY_WINDOW,
    EXPOSURE_PREFIX,
    GROUP_ID_COLUMNS,
    HEADLINE_METRICS,
    ID_COLUMNS,
    MINORITY_EXPOSURE,
    MetricInfo,
    NoConfidenceBandWarning,
    metric_info,
)
from recsim_llm.analysis.stats.intervals import (
    bootstrap_ci,
    interval_method,
    mean_ci,
    range_ci,
    wilson_ci,
)
from recsim_llm.analysis.stats.survival import churn_hazard, kaplan_meier, kaplan_meier_by
from recsim_llm.analysis.stats.tables import (
    WINDOW_FORMS,
    curve_with_ci,
    headline_table,
    interval_text,
    key_findings,
    metric_range,
    paired_difference,
    paired_table,
    parse_window,
    seed_values,
)
from recsim_llm.analysis.stats.validate import (
    completeness_issues,
    minority_exposure_column,
    policy_order,
    require_columns,
    resolve_metric,
    valid_metrics,
)

__all__ = [
    "DEFAULT_WINDOW",
    "EARLY_WINDOW",
    "EXPOSURE_PREFIX",
    "GROUP_ID_COLUMNS",
    "HEADLINE_METRICS",
    "ID_COLUMNS",
    "MINORITY_EXPOSURE",
    "WINDOW_FORMS",
    "MetricInfo",
    "NoConfidenceBandWarning",
    "bootstrap_ci",
    "churn_hazard",
    "completeness_issues",
    "curve_with_ci",
    "default_focus_group",
    "group_gap",
    "headline_table",
    "interval_method",
    "interval_text",
    "kaplan_meier",
    "kaplan_meier_by",
    "key_findings",
    "mean_ci",
    "metric_info",
    "metric_range",
    "minority_exposure_column",
    "paired_difference",
    "paired_table",
    "parse_window",
    "policy_order",
    "range_ci",
    "require_columns",
    "resolve_metric",
    "seed_values",
    "valid_metrics",
    "wilson_ci",
]
