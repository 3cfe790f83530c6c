"""A one-file HTML report of a run folder.

The report is a single self-contained file: figures are embedded as base64 PNG ``data:`` URIs,
the CSS is inline, there is no JavaScript and no external URL, so it can be mailed, archived
next to the results or opened offline. Every piece of text from the data passes through
:func:`html.escape` (policy names and config values are user input).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from recsim_llm.analysis import plots as P
from recsim_llm.analysis import stats as S

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto;
       max-width: 1400px; padding: 0 1.5em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.88em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.better { background: #e6f4ea; } td.worse { background: #fce8e6; }
td.sig { font-weight: 600; }
.unit { font-weight: normal; color: #666; font-size: 0.85em; }
.note { color: #555; font-size: 0.9em; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
code { font-size: 0.95em; }
.scroll { overflow-x: auto; }
"""


def _fmt(x: Any, sign: bool = False) -> str:
    """Three significant digits; an en dash for a missing value."""
    if x is None or (isinstance(x, float | np.floating) and not np.isfinite(x)):
        return "–"
    if isinstance(x, int | np.integer):
        return f"{int(x):+d}" if sign else str(int(x))
    return f"{float(x):+.3g}" if sign else f"{float(x):.3g}"


def _ci(mean: float, lo: float, hi: float, sign: bool = False) -> str:
    if np.isnan(lo) or np.isnan(hi):
        return _fmt(mean, sign)
    return f"{_fmt(mean, sign)} [{_fmt(lo, sign)}, {_fmt(hi, sign)}]"


def figure_data_uri(fig: Figure, dpi: int = 110) -> str:
    """The figure as a ``data:image/png;base64,...`` URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _table(header: Iterable[str], rows: Iterable[Sequence[str]]) -> str:
    """An HTML table; header cells and row cells are already-escaped HTML."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(rows_) + "</tr>" for rows_ in rows)
    return (f"<div class=scroll><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
            "</table></div>")


def _flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, dict):
            out += _flatten(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", v))
    return out


def _phase_text(manifest: dict[str, Any]) -> str:
    days = manifest.get("train_days") or 0
    if not days:
        return "none (policies learn throughout)"
    mode = "frozen afterwards" if manifest.get("freeze") else "learning continues afterwards"
    return f"days 1–{days} ({mode})"


def _summary(run: P.RunData, policies: list[str]) -> str:
    m, d = run.manifest, run.daily
    cfg = m.get("config", {}) if isinstance(m.get("config"), dict) else {}
    scen = cfg.get("name") or ", ".join(str(s) for s in pd.unique(d.get("scenario", pd.Series())))
    seeds = m.get("seeds") or sorted(int(s) for s in d["seed"].unique())
    users = cfg.get("population", {}).get("n_users") if isinstance(
        cfg.get("population"), dict) else None
    joined = int(d["joined_users"].max()) if "joined_users" in d else None
    if users is None:
        users_txt = _fmt(joined)
    elif joined is not None and joined != users:
        users_txt = f"{users} initial, {joined} joined by the end"
    else:
        users_txt = str(users)
    items = cfg.get("catalog", {}).get("n_items") if isinstance(cfg.get("catalog"), dict) else None
    fields = [
        ("Scenario", scen or "–"),
        ("Policies", ", ".join(policies)),
        ("Seeds", f"{len(seeds)}: {', '.join(str(s) for s in seeds)}"),
        ("Users", users_txt),
        ("Items", _fmt(items) if items is not None else "–"),
        ("Days", f"{int(d['day'].min())}–{int(d['day'].max())}"),
        ("Slate size", _fmt(cfg.get("slate_size")) if "slate_size" in cfg else "–"),
        ("Encoder", m.get("encoder_identity") or cfg.get("encoder") or "–"),
        ("Training phase", _phase_text(m)),
        ("recsim_llm version", m.get("recsim_llm_version") or "unknown"),
        ("Git commit", m.get("git_commit") or "unknown"),
        ("Python / NumPy", f"{m.get('python', '?')} / {m.get('numpy', '?')}"),
        ("Data path", m.get("data_path") or "–"),
        ("Run folder", str(run.path)),
    ]
    return _table(["Field", "Value"],
                  ([f"<th>{escape(k)}</th>", f"<td>{escape(str(v))}</td>"] for k, v in fields))


def _metric_th(metric: str) -> str:
    info = S.metric_info(metric)
    return (f"<th>{escape(info.label)}<br><span class=unit>{escape(info.unit)}</span></th>"
            if info.unit else f"<th>{escape(info.label)}</th>")


def _headline_html(head: pd.DataFrame, policies: list[str]) -> str:
    # Metrics as rows, policies as columns: there are usually more metrics than policies,
    # so the table stays narrow enough to read without scrolling.
    cells = head.set_index(["policy", "metric"])
    rows = []
    for c in pd.unique(head["metric"]):
        row = [_metric_th(c)]
        for p in policies:
            r = cells.loc[(p, c)] if (p, c) in cells.index else None
            row.append("<td class=num>–</td>" if r is None else
                       f"<td class=num>{escape(_ci(r['mean'], r['lo'], r['hi']))}</td>")
        rows.append(row)
    return _table(["Metric", *(escape(p) for p in policies)], rows)


def _paired_html(pt: pd.DataFrame) -> str:
    compared = list(pd.unique(pt["policy"]))
    ref = str(pt["reference"].iloc[0])
    cells = pt.set_index(["metric", "policy"])
    rows = []
    for c in pd.unique(pt["metric"]):
        row = [_metric_th(c)]
        for p in compared:
            if (c, p) not in cells.index:
                row.append("<td class=num>–</td>")
                continue
            r = cells.loc[(c, p)]
            cls = ["num"]
            # A CI that excludes 0 is marked; colour says whether the direction is desirable.
            if np.isfinite(r["lo"]) and (r["lo"] > 0 or r["hi"] < 0):
                cls.append("sig")
                hib = S.metric_info(c).higher_is_better
                if hib is not None:
                    cls.append("better" if (r["diff"] > 0) == hib else "worse")
            title = (f"{p}: {_fmt(r['mean_policy'])}, {ref}: {_fmt(r['mean_reference'])}, "
                     f"paired t p = {_fmt(r['p_value'])}, n = {int(r['n_pairs'])}")
            row.append(f"<td class='{' '.join(cls)}' title='{escape(title)}'>"
                       f"{escape(_ci(r['diff'], r['lo'], r['hi'], sign=True))}<br>"
                       f"<span class=unit>p = {escape(_fmt(r['p_value']))}</span></td>")
        rows.append(row)
    return _table(["Metric", *(escape(f"{p} − {ref}") for p in compared)], rows)


def _config_html(manifest: dict[str, Any]) -> str:
    cfg = manifest.get("config")
    if not isinstance(cfg, dict) or not cfg:
        return "<p class=note>No configuration recorded (manifest.json missing or empty).</p>"
    rows = ([f"<td><code>{escape(k)}</code></td>",
             f"<td><code>{escape(json.dumps(v))}</code></td>"] for k, v in _flatten(cfg))
    full = escape(json.dumps(manifest, indent=2, sort_keys=False, default=str))
    return (_table(["Key", "Value"], rows)
            + "<details><summary>Full manifest (JSON)</summary>"
            f"<pre>{full}</pre></details>")


def render_report(run: P.RunData, level: float = 0.95, window: Any = S.DEFAULT_WINDOW,
                  reference: str | None = None, dpi: int = 110,
                  early: Any = S.EARLY_WINDOW) -> str:
    """The report of a run as an HTML string (see :func:`write_report`)."""
    policies = run.policies
    ref = reference if reference is not None else policies[0]
    S.policy_order(run.daily, [ref])
    n_seeds = int(run.daily["seed"].nunique())
    start, end = S.parse_window(window, run.daily["day"])  # a bad window fails before drawing
    e_start, e_end = S.parse_window(early, run.daily["day"])
    figs = P.run_figures(run, level=level, individual=False)
    head = S.headline_table(run.daily, window=window, level=level, policies=policies)
    head_early = S.headline_table(run.daily, window=early, level=level, policies=policies)
    findings = S.key_findings(run.daily, ref, late=window, early=early, level=level,
                              policies=policies)
    pt = S.paired_table(run.daily, reference=ref, window=window, level=level,
                        policies=policies)
    scen = str(run.manifest.get("config", {}).get("name", "")) or ", ".join(
        str(s) for s in pd.unique(run.daily.get("scenario", pd.Series(["run"]))))
    band = (f"bands and brackets are {level:.0%} intervals across the {n_seeds} seeds that "
            f"stay in each metric's range ({P.BAND_METHOD})"
            if n_seeds > 1 else "only 1 seed: no confidence intervals")

    parts = [
        "<!DOCTYPE html>", "<html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width, initial-scale=1'>",
        f"<title>{escape(f'recsim-llm report: {scen}')}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{escape(f'recsim-llm report: {scen}')}</h1>",
        f"<p class=note>{escape(f'Run folder {run.path}. Lines are means across seeds; {band}.')}"
        "</p>",
        "<h2>Key findings</h2>",
        "<p class=note>Generated from the paired differences below (policy − "
        f"{escape(ref)}, per seed): only differences whose {level:.0%} interval excludes 0 are "
        "stated as changes.</p>",
        "<ul>" + "".join(f"<li>{escape(f)}</li>" for f in findings) + "</ul>",
        "<h2>Run summary</h2>", _summary(run, policies),
        "<h2>Dashboard</h2>",
    ]

    def fig_html(name: str, caption: str) -> str:
        return (f"<figure><img src=\"{figure_data_uri(figs[name], dpi)}\" "
                f"alt=\"{escape(caption)}\"><figcaption>{escape(caption)}</figcaption></figure>")

    parts.append(fig_html("dashboard", f"Daily metrics per policy; {band}."))
    if "churn_hazard" in figs:
        parts.append(fig_html("churn_hazard", "Daily churn hazard: users churned that day / "
                              "users at risk (alive the day before or joining that day)."))
    if "survival" in figs:
        parts.append(fig_html("survival", "Kaplan-Meier survival of users (users.csv): share "
                              "not churned by days since arrival; users of all seeds pooled, "
                              f"{level:.0%} Greenwood log-log interval."))
    gap_names = [k for k in figs if k.startswith("group_gaps_")]
    parts.append("<h2>Group gaps</h2>")
    if gap_names:
        for k in gap_names:
            parts.append(fig_html(k, "Gap between a user group and the rest of the population "
                                  "(per seed and day, then averaged across seeds); dashed: no "
                                  "gap."))
    else:
        parts.append("<p class=note>No user groups recorded (groups.csv absent or empty).</p>")

    parts += [
        "<h2>Headline metrics: first week and last days</h2>",
        f"<p class=note>{escape('Mean over the window per seed, then mean across seeds ')}"
        f"{escape(f'[{level:.0%} interval in the metric range: {P.BAND_METHOD}]. ')}"
        f"{escape('Cumulative clicks per initial user counts the day-0 users, churned ones ')}"
        f"{escape('included, so it does not flatter a policy that lost its users.')}</p>",
        "<div style='display:flex;flex-wrap:wrap;gap:1.5em'>",
        f"<div><h3>{escape(f'Days {e_start}–{e_end}')}</h3>"
        f"{_headline_html(head_early, policies)}</div>",
        f"<div><h3>{escape(f'Days {start}–{end}')}</h3>{_headline_html(head, policies)}</div>",
        "</div>",
        "<h2>Paired differences</h2>",
    ]
    if pt.empty:
        parts.append("<p class=note>Only one policy: nothing to compare.</p>")
    else:
        parts += [
            f"<p class=note>{escape(f'Per-seed difference policy − {ref} over days {start}–{end}')}"
            f"{escape(f' (common random numbers: paired by seed), mean [{level:.0%} paired ')}"
            f"{escape('t-interval (scipy.stats.ttest_rel), cut to the range of a difference]')}"
            f"{escape(' and paired t-test p-value. Bold: interval excludes 0; green/red: ')}"
            f"{escape('the desirable/undesirable direction where one exists.')}</p>",
            _paired_html(pt),
        ]
    parts += ["<h2>Configuration</h2>", _config_html(run.manifest), "</body></html>"]
    return "\n".join(parts)


def write_report(run_dir: str | Path, out: str | Path | None = None, *, level: float = 0.95,
                 window: Any = S.DEFAULT_WINDOW, reference: str | None = None) -> Path:
    """Write a self-contained HTML report of a run folder.

    Contents: run summary (scenario, policies, seeds, users, days, version, git commit), the
    dashboard, churn-hazard, survival and group-gap figures, the headline table with CIs, the paired
    differences against ``reference`` and the full configuration.

    Args:
        run_dir: folder written by :func:`recsim_llm.runner.simulate`.
        out: output file (default ``run_dir/report.html``).
        level: confidence level.
        window: days averaged in the tables (see :func:`~recsim_llm.analysis.stats.
            parse_window`), default the final 10.
        reference: baseline of the paired differences (default the manifest's first policy).
    Returns:
        The path of the written file.
    Raises:
        ValueError: missing, empty or partial data (see :func:`~recsim_llm.analysis.plots.
            read_run`), or an unknown reference policy.
    """
    run = P.read_run(run_dir)
    html = render_report(run, level=level, window=window, reference=reference)
    path = Path(out) if out is not None else run.path / "report.html"
    from recsim_llm.integrity import RunIOError, describe_os_error, write_bytes_atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunIOError(f"cannot create {path.parent}: {describe_os_error(err)}") from err
    # Write-then-rename via a unique temporary name: a reader never sees half a report.
    write_bytes_atomic(path, html.encode("utf-8"))
    return path
