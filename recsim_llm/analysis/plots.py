"""Figures of an experiment: metric curves with confidence bands, a dashboard, group gaps.

Every function builds a :class:`matplotlib.figure.Figure` directly (no ``pyplot``), so nothing
touches global figure state: safe in tests, workers and notebooks alike, and figures are freed
by garbage collection. Colours are fixed per policy (in manifest order) across all figures.
"""

from __future__ import annotations

import math
import re
import textwrap
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from recsim_llm.analysis import stats as S
from recsim_llm.integrity import read_json_object

DEFAULT_METRICS = (
    "retention", "ctr", "topic_entropy", "homogenization", "coverage", "exposure_gini",
    "mean_satisfaction", "intra_list_diversity", S.MINORITY_EXPOSURE,
    "cumulative_clicks_per_initial_user",
)
"""Panels of :func:`plot_dashboard`; the last is the minority provider group's exposure share."""

GROUP_GAP_METRICS = ("retention", "ctr", "mean_satisfaction")
"""Panels of the group-gap figures of :func:`run_figures`."""

_BAND_ALPHA = 0.18

BAND_METHOD = ("t on the logit scale for shares, on the log scale for non-negative amounts "
               "(bootstrap where a seed is on a bound), plain t otherwise")
"""How the bands are computed (:func:`~recsim_llm.analysis.stats.curve_with_ci`), for captions."""


# --------------------------------------------------------------------------- run folders


@dataclass
class RunData:
    """The tables of one run folder (see :func:`read_run`).

    Attributes:
        path: the folder.
        daily: ``daily.csv`` (``attrs["source"]`` names the file, for error messages).
        groups: ``groups.csv``, or None when absent or empty.
        manifest: ``manifest.json``, or an empty dict when absent.
        users: ``users.csv`` (per-user churn durations), or None when absent or empty.
    """

    path: Path
    daily: pd.DataFrame
    groups: pd.DataFrame | None
    manifest: dict[str, Any]
    users: pd.DataFrame | None = None

    @property
    def policies(self) -> list[str]:
        """Policies in manifest order (those present in ``daily``)."""
        return S.policy_order(self.daily, [p for p in self.manifest.get("policies", [])
                                           if p in set(self.daily["policy"])] or None)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        df = pd.DataFrame()
    df.attrs["source"] = path.name
    return df


def read_run(run_dir: str | Path, strict: bool = True) -> RunData:
    """Read ``daily.csv``, ``groups.csv``, ``users.csv`` and ``manifest.json`` of a run folder.

    Args:
        run_dir: a folder written by :func:`recsim_llm.runner.simulate`.
        strict: raise if the manifest marks the run incomplete, or the (policy x seed x day)
            grid has holes or misses a policy or seed of the manifest (a partial run would bias
            the final-window averages); otherwise warn.
    Raises:
        ValueError: the folder or ``daily.csv`` is missing, has no rows, lacks an identifier
            column, the manifest is not JSON, or (strict) the data are partial -- saying which.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise ValueError(f"run folder {path} not found")
    daily_path = path / "daily.csv"
    if not daily_path.is_file():
        raise ValueError(f"daily.csv not found in {path}")
    daily = _read_csv(daily_path)
    if daily.empty:
        raise ValueError(f"daily.csv has no rows (in {path})")
    S.require_columns(daily, ["policy", "seed", "day"])
    daily["policy"] = daily["policy"].astype(str)

    manifest: dict[str, Any] = {}
    mpath = path / "manifest.json"
    if mpath.is_file():
        manifest = read_json_object(mpath)   # NotAJSONObjectError is a ValueError
    else:
        warnings.warn(f"manifest.json not found in {path}: no configuration to report",
                      stacklevel=2)
    if manifest.get("complete") is False:
        # simulate() writes complete=false first and true only once every table is written.
        msg = (f"manifest.json in {path} says the run is not complete (interrupted or still "
               "running): rerun the same simulate command to finish it")
        if strict:
            raise ValueError(msg)
        warnings.warn(msg, stacklevel=2)

    cfg: dict[str, Any] = (manifest["config"] if isinstance(manifest.get("config"), dict)
                           else {})
    horizon = cfg.get("horizon_days") if isinstance(cfg.get("horizon_days"), int) else None
    issues = S.completeness_issues(daily, manifest.get("policies"), manifest.get("seeds"),
                                   horizon)
    if issues:
        msg = f"partial data in {path}: " + "; ".join(issues)
        if strict:
            raise ValueError(msg)
        warnings.warn(msg, stacklevel=2)

    groups: pd.DataFrame | None = None
    gpath = path / "groups.csv"
    if not gpath.is_file():
        warnings.warn(f"groups.csv not found in {path}: no group-gap figures", stacklevel=2)
    else:
        groups = _read_csv(gpath)
        if groups.empty:
            # A population without persona groups writes an empty groups.csv: nothing to show.
            warnings.warn(f"groups.csv has no rows (in {path}): no group-gap figures",
                          stacklevel=2)
            groups = None
        else:
            S.require_columns(groups, ["policy", "seed", "day", "group_key", "group", "users"])
            groups["policy"] = groups["policy"].astype(str)
            groups["group"] = groups["group"].astype(str)
    users: pd.DataFrame | None = None
    upath = path / "users.csv"
    if upath.is_file():  # older runs have none: then there is simply no survival figure
        users = _read_csv(upath)
        if users.empty:
            users = None
        else:
            S.require_columns(users, ["policy", "duration", "churned"])
            users["policy"] = users["policy"].astype(str)
    return RunData(path=path, daily=daily, groups=groups, manifest=manifest, users=users)


# --------------------------------------------------------------------------- drawing


def policy_colors(policies: Sequence[str]) -> dict[str, Any]:
    """A fixed colour per policy, by position (tab10, cycling)."""
    cmap = colormaps["tab10"]
    return {p: cmap(i % cmap.N) for i, p in enumerate(policies)}


def _new_axes(ax: Axes | None, figsize: tuple[float, float] = (6.4, 4.0)) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.get_figure(root=True), ax  # type: ignore[return-value]
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _ylabel(label: str, unit: str, width: int = 34) -> str:
    text = f"{label} ({unit})" if unit else label
    return "\n".join(textwrap.wrap(text, width)) or label


def _draw_curves(ax: Axes, curve: pd.DataFrame, policies: Sequence[str],
                 colors: dict[str, Any]) -> bool:
    """One line (mean) and one band (CI) per policy; True if any band could be drawn."""
    banded = False
    for p in policies:
        c = curve[curve["policy"] == p]
        if c.empty:
            continue
        x = c["day"].to_numpy()
        ax.plot(x, c["mean"].to_numpy(), label=str(p), color=colors[p], lw=1.6)
        lo, hi = c["lo"].to_numpy(np.float64), c["hi"].to_numpy(np.float64)
        ok = ~(np.isnan(lo) | np.isnan(hi))
        if ok.any():
            banded = True
            ax.fill_between(x, lo, hi, where=ok, color=colors[p], alpha=_BAND_ALPHA, lw=0,
                            interpolate=False)
    ax.set_xlabel("Day")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # days are whole numbers
    ax.grid(alpha=0.3, lw=0.5)
    ax.margins(x=0.01)
    return banded


def _limit_axis(ax: Axes, curve: pd.DataFrame, metric: str) -> None:
    """Keep the y-axis to the quantity's range, and let the curves, not the widest band, set it.

    A band may extend beyond the view (it is clipped at the edge); the means are always inside.
    """
    info = S.metric_info(metric)
    mean = curve["mean"].to_numpy(np.float64)
    mean = mean[np.isfinite(mean)]
    if mean.size == 0:
        return
    lo_b = curve["lo"].to_numpy(np.float64)
    hi_b = curve["hi"].to_numpy(np.float64)
    m_lo, m_hi = float(mean.min()), float(mean.max())
    span = m_hi - m_lo
    if span <= 0:
        span = max(abs(m_hi), 1e-3) * 0.1
    # Bands count up to one span beyond the curves; wider bands are cut at the edge.
    b_lo = np.nanmin(lo_b) if np.isfinite(lo_b).any() else m_lo
    b_hi = np.nanmax(hi_b) if np.isfinite(hi_b).any() else m_hi
    y0 = max(min(b_lo, m_lo), m_lo - span)
    y1 = min(max(b_hi, m_hi), m_hi + span)
    pad = 0.04 * (y1 - y0 or span)
    y0, y1 = y0 - pad, y1 + pad
    if info.lower is not None:
        y0 = max(y0, info.lower)
    if info.upper is not None:
        y1 = min(y1, info.upper)
    if y1 > y0:
        ax.set_ylim(y0, y1)


def _shade_training(ax: Axes, daily: pd.DataFrame) -> None:
    """Grey out the training phase (``phase == "train"`` rows), if the run had one."""
    if "phase" not in daily.columns:
        return
    train = daily.loc[daily["phase"] == "train", "day"]
    if len(train):
        ax.axvspan(float(train.min()) - 0.5, float(train.max()) + 0.5, color="0.9", lw=0,
                   zorder=0, label="_training")
        ax.text(0.01, 0.98, "training", transform=ax.get_xaxis_transform(), ha="left",
                va="top", fontsize="x-small", color="0.45")


def _warn_no_band(n_seeds: int, what: str) -> None:
    warnings.warn(f"only {n_seeds} seed{'s' if n_seeds != 1 else ''}: no confidence band "
                  f"({what})", S.NoConfidenceBandWarning, stacklevel=3)


def _n_seeds(df: pd.DataFrame) -> int:
    return int(df["seed"].nunique()) if "seed" in df.columns else 0


def plot_metric(daily: pd.DataFrame, metric: str, ax: Axes | None = None, level: float = 0.95,
                policies: Sequence[str] | None = None, legend: bool = True) -> Figure:
    """Daily mean of ``metric`` across seeds, one line per policy, with a CI band that stays
    in the metric's range (see :data:`BAND_METHOD`); the y-axis keeps to that range.

    Args:
        daily: rows per (policy, seed, day).
        metric: a numeric column or :data:`~recsim_llm.analysis.stats.MINORITY_EXPOSURE`.
        ax: draw into these axes (else a new figure).
        level: confidence level of the band.
        policies: order and selection of policies (default: order of appearance).
        legend: add a legend.
    Returns:
        The figure holding the axes.
    Raises:
        ValueError: empty table, missing column or unknown metric/policy.
    Warns:
        NoConfidenceBandWarning: a single seed (lines without bands).
    """
    S.require_columns(daily, ["policy", "seed", "day"])
    col = S.resolve_metric(daily, metric)
    order = S.policy_order(daily, policies)
    curve = S.curve_with_ci(daily[daily["policy"].isin(order)], col, level=level)
    fig, ax = _new_axes(ax)
    _shade_training(ax, daily)
    if not _draw_curves(ax, curve, order, policy_colors(order)):
        _warn_no_band(_n_seeds(daily), col)
    _limit_axis(ax, curve, col)
    info = S.metric_info(col)
    ax.set_ylabel(_ylabel(info.label, info.unit))
    ax.set_title(info.label, fontsize="medium")
    if legend:
        ax.legend(fontsize="small", frameon=False)
    return fig


def _run_title(daily: pd.DataFrame, level: float) -> str:
    scen = ", ".join(str(s) for s in pd.unique(daily["scenario"])) if "scenario" in daily else ""
    n = _n_seeds(daily)
    band = (f"{level:.0%} intervals across seeds: {BAND_METHOD}" if n > 1
            else "single seed, no interval")
    return f"{scen + ': ' if scen else ''}mean over {n} seed{'s' if n != 1 else ''} ({band})"


def plot_dashboard(daily: pd.DataFrame, metrics: Sequence[str] = DEFAULT_METRICS,
                   level: float = 0.95, policies: Sequence[str] | None = None,
                   ncols: int = 3) -> Figure:
    """A grid of :func:`plot_metric` panels sharing one legend.

    The minority-exposure panel reads "not applicable" on a catalog with one provider group;
    any other missing metric is an error.

    Args:
        daily: rows per (policy, seed, day).
        metrics: one panel each.
        level: confidence level of the bands.
        policies: order and selection of policies.
        ncols: panels per row.
    Raises:
        ValueError: empty table, missing column, unknown metric or policy.
    Warns:
        NoConfidenceBandWarning: a single seed (once for the whole figure).
    """
    S.require_columns(daily, ["policy", "seed", "day"])
    if not metrics:
        raise ValueError("plot_dashboard needs at least one metric")
    order = S.policy_order(daily, policies)
    colors = policy_colors(order)
    # Resolve every name before drawing anything, so a typo fails fast with the valid list.
    cols: list[str | None] = []
    for m in metrics:
        if (m == S.MINORITY_EXPOSURE and S.minority_exposure_column(daily) is None) or (
                m == "cumulative_clicks_per_initial_user" and m not in daily.columns):
            cols.append(None)  # one provider group / a run recorded before the column existed
        else:
            cols.append(S.resolve_metric(daily, m))
    sub = daily[daily["policy"].isin(order)]
    ncols = max(1, min(ncols, len(cols)))
    nrows = math.ceil(len(cols) / ncols)
    fig = Figure(figsize=(4.4 * ncols, 3.1 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    banded = False
    for ax, m, col in zip(axes, metrics, cols, strict=False):
        if col is None:
            info = S.metric_info(m)
            ax.set_title(info.label, fontsize="medium")
            why = ("one provider group" if m == S.MINORITY_EXPOSURE
                   else "not in this daily.csv")
            ax.text(0.5, 0.5, f"not applicable:\n{why}", ha="center", va="center",
                    transform=ax.transAxes, color="0.4")
            ax.set_axis_off()
            continue
        curve = S.curve_with_ci(sub, col, level=level)
        _shade_training(ax, sub)
        banded |= _draw_curves(ax, curve, order, colors)
        _limit_axis(ax, curve, col)
        info = S.metric_info(col)
        ax.set_title(info.label, fontsize="medium")
        ax.set_ylabel(_ylabel(info.label, info.unit, 30), fontsize="small")
    for ax in axes[len(cols):]:
        ax.set_axis_off()
    if not banded:
        _warn_no_band(_n_seeds(sub), "dashboard")
    handles = [h for ax in axes for h in ax.get_lines()][: len(order)]
    fig.legend(handles, [h.get_label() for h in handles], loc="outside lower center",
               ncols=min(len(order), 6), frameon=False)
    fig.suptitle(_run_title(sub, level), fontsize="medium")
    return fig


def plot_group_gaps(groups: pd.DataFrame, key: str, metric: str | Sequence[str],
                    focus: str | None = None, versus: str | None = None,
                    ax: Axes | None = None, level: float = 0.95,
                    policies: Sequence[str] | None = None) -> Figure:
    """Gap ``focus - versus`` of a group metric over time, one line (+ CI band) per policy.

    The gap is taken per seed and day (see :func:`~recsim_llm.analysis.stats.group_gap`), then
    averaged across seeds with a t interval. A dashed line marks zero (no gap).

    Args:
        groups: rows of ``groups.csv``.
        key: the grouping, e.g. "taste".
        metric: a group metric (``retention``, ``active_share``, ``ctr``,
            ``mean_satisfaction``), or several for one panel each.
        focus: the group of interest (default "minority" if present, else the smallest).
        versus: the group compared with (default: all other users).
        ax: draw into these axes (a single metric only).
        level: confidence level.
        policies: order and selection of policies.
    Raises:
        ValueError: empty table, unknown key, group, metric or policy.
    Warns:
        NoConfidenceBandWarning: a single seed.
    """
    S.require_columns(groups, ["policy", "seed", "day", "group_key", "group"])
    metrics = [metric] if isinstance(metric, str) else list(metric)
    if not metrics:
        raise ValueError("plot_group_gaps needs at least one metric")
    if ax is not None and len(metrics) > 1:
        raise ValueError("ax= takes a single metric; pass one metric or no ax")
    order = S.policy_order(groups, policies)
    colors = policy_colors(order)
    gaps = [S.group_gap(groups[groups["policy"].isin(order)], key, m, focus, versus)
            for m in metrics]
    if ax is None:
        fig = Figure(figsize=(4.6 * len(metrics), 3.6), layout="constrained")
        axes = list(fig.subplots(1, len(metrics), squeeze=False).ravel())
    else:
        fig, axes = ax.get_figure(root=True), [ax]  # type: ignore[assignment]
    banded = False
    for a, gap in zip(axes, gaps, strict=True):
        curve = S.curve_with_ci(gap, "gap", level=level)
        a.axhline(0.0, color="0.35", lw=0.8, ls="--", zorder=0)
        banded |= _draw_curves(a, curve, order, colors)
        info = S.metric_info(gap.attrs["metric"])
        a.set_title(f"{info.label}: {gap.attrs['focus']} − {gap.attrs['versus']}",
                    fontsize="medium")
        a.set_ylabel(_ylabel(f"{info.label} gap", info.unit, 30), fontsize="small")
    if not banded:
        _warn_no_band(_n_seeds(groups), f"group gaps of {key!r}")
    if ax is None:
        handles = [h for h in axes[0].get_lines() if not h.get_label().startswith("_")]
        fig.legend(handles, [h.get_label() for h in handles], loc="outside lower center",
                   ncols=min(len(handles), 6), frameon=False)
        fig.suptitle(f"Group gaps by {key} ({level:.0%} t-interval across seeds)",
                     fontsize="medium")
    else:
        ax.legend(fontsize="small", frameon=False)
    return fig


def plot_churn_hazard(daily: pd.DataFrame, ax: Axes | None = None, level: float = 0.95,
                      policies: Sequence[str] | None = None) -> Figure:
    """Daily churn hazard (churned / at risk, see :func:`~recsim_llm.analysis.stats.
    churn_hazard`) across seeds, one line per policy.

    Raises:
        ValueError: ``retention`` or ``joined_users`` missing, or days with gaps.
    """
    S.require_columns(daily, ["policy", "seed", "day", "retention", "joined_users"])
    order = S.policy_order(daily, policies)
    hz = S.churn_hazard(daily[daily["policy"].isin(order)])
    curve = S.curve_with_ci(hz, "hazard", level=level)
    fig, ax = _new_axes(ax)
    if not _draw_curves(ax, curve, order, policy_colors(order)):
        _warn_no_band(_n_seeds(daily), "churn hazard")
    _limit_axis(ax, curve, "hazard")
    info = S.metric_info("hazard")
    ax.set_title(info.label, fontsize="medium")
    ax.set_ylabel(_ylabel(info.label, info.unit))
    ax.legend(fontsize="small", frameon=False)
    return fig


def plot_survival(users: pd.DataFrame, ax: Axes | None = None, level: float = 0.95,
                  policies: Sequence[str] | None = None) -> Figure:
    """Kaplan-Meier curve of user survival (not churned) per policy, with a log-log band.

    Users of all seeds are pooled per policy (see :func:`~recsim_llm.analysis.stats.
    kaplan_meier_by`); x is days since the user arrived.

    Args:
        users: one row per user with ``policy``, ``duration`` and ``churned`` (``users.csv``).
        ax: draw into these axes (else a new figure).
        level: confidence level of the band.
        policies: order and selection of policies.
    Raises:
        ValueError: empty table, missing column or unknown policy.
    """
    S.require_columns(users, ["policy", "duration", "churned"])
    order = S.policy_order(users, policies)
    colors = policy_colors(order)
    km = S.kaplan_meier_by(users[users["policy"].isin(order)], level=level)
    fig, ax = _new_axes(ax)
    for p in order:
        k = km[km["policy"] == p]
        # S(0) = 1: start every curve at time 0 so the first drop is visible.
        t = np.concatenate(([0.0], k["time"].to_numpy(np.float64)))
        surv = np.concatenate(([1.0], k["survival"].to_numpy(np.float64)))
        lo = np.concatenate(([1.0], k["lo"].to_numpy(np.float64)))
        hi = np.concatenate(([1.0], k["hi"].to_numpy(np.float64)))
        ax.step(t, surv, where="post", label=str(p), color=colors[p], lw=1.6)
        ok = ~(np.isnan(lo) | np.isnan(hi))
        ax.fill_between(t, lo, hi, where=ok, step="post", color=colors[p], alpha=_BAND_ALPHA,
                        lw=0)
    ax.set_xlabel("Days since arrival")
    ax.set_ylim(-0.02, 1.02)  # a share of users: the axis is the range
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3, lw=0.5)
    info = S.metric_info("survival")
    ax.set_ylabel(_ylabel(info.label, info.unit))
    ax.set_title(f"Kaplan-Meier survival ({level:.0%} log-log interval, seeds pooled)",
                 fontsize="medium")
    ax.legend(fontsize="small", frameon=False)
    return fig


# --------------------------------------------------------------------------- whole runs


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def run_figures(run: RunData, level: float = 0.95, individual: bool = True
                ) -> dict[str, Figure]:
    """Every figure of a run, by file stem.

    ``dashboard``, ``churn_hazard``, ``survival`` (when ``users.csv`` exists),
    ``group_gaps_<key>`` (one per group key, when groups exist) and, with ``individual``,
    ``metric_<name>`` for each dashboard metric.
    """
    policies = run.policies
    figs: dict[str, Figure] = {}
    # One seed triggers the same warning in every figure: say it once.
    single = _n_seeds(run.daily) < 2
    with warnings.catch_warnings():
        if single:
            warnings.simplefilter("ignore", S.NoConfidenceBandWarning)
        figs["dashboard"] = plot_dashboard(run.daily, level=level, policies=policies)
        if {"retention", "joined_users"} <= set(run.daily.columns):
            figs["churn_hazard"] = plot_churn_hazard(run.daily, level=level, policies=policies)
        if run.users is not None:
            figs["survival"] = plot_survival(
                run.users, level=level,
                policies=[p for p in policies if p in set(run.users["policy"])])
        if run.groups is not None:
            gpol = [p for p in policies if p in set(run.groups["policy"])]
            for key in pd.unique(run.groups["group_key"]):
                sub = run.groups[run.groups["group_key"] == key]
                mets = [m for m in GROUP_GAP_METRICS if m in sub.columns]
                if sub["group"].nunique() < 2 or not mets:
                    continue
                figs[f"group_gaps_{_safe_name(str(key))}"] = plot_group_gaps(
                    run.groups, str(key), mets, level=level, policies=gpol)
        if individual:
            for m in DEFAULT_METRICS:
                if m == S.MINORITY_EXPOSURE and S.minority_exposure_column(run.daily) is None:
                    continue
                figs[f"metric_{_safe_name(S.resolve_metric(run.daily, m))}"] = plot_metric(
                    run.daily, m, level=level, policies=policies)
    if single:
        _warn_no_band(_n_seeds(run.daily), f"run {run.path}")
    return figs


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None,
             formats: Sequence[str] = ("png", "pdf"), level: float = 0.95,
             dpi: int = 150, individual: bool = True) -> list[Path]:
    """Read a run folder and write every figure of :func:`run_figures` in every format.

    Args:
        run_dir: folder with ``daily.csv`` (and ``groups.csv``, ``manifest.json``).
        out_dir: where to write (default ``run_dir/figures``); created if needed.
        formats: file extensions understood by matplotlib, e.g. ("png", "pdf", "svg").
        level: confidence level of the bands.
        dpi: resolution of raster formats.
        individual: also write one figure per dashboard metric (``metric_<name>``).
    Returns:
        The written files, figure by figure.
    Raises:
        ValueError: missing/empty/partial data (see :func:`read_run`) or an unknown format.
    """
    supported = FigureCanvasBase.get_supported_filetypes()
    fmts = [f.lower().lstrip(".") for f in formats]
    bad = [f for f in fmts if f not in supported]
    if bad or not fmts:
        raise ValueError(f"unknown figure formats {bad or list(formats)}; "
                         f"supported: {sorted(supported)}")
    run = read_run(run_dir)
    out = Path(out_dir) if out_dir is not None else run.path / "figures"
    from recsim_llm.integrity import RunIOError, describe_os_error, write_atomic

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunIOError(f"cannot create {out}: {describe_os_error(err)}") from err
    written = []
    for stem, fig in run_figures(run, level=level, individual=individual).items():
        for f in fmts:
            p = out / f"{stem}.{f}"
            # No "Software" stamp: output bytes then depend on the data only. Written via a
            # unique temporary name, so a failed write leaves neither half a file nor a temp.
            def save(tmp: Path, fig: Figure = fig, f: str = f) -> None:
                fig.savefig(tmp, format=f, dpi=dpi,
                            metadata={"Software": None} if f == "png" else None)

            write_atomic(p, save, fsync=False)
            written.append(p)
    return written
