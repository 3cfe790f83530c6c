"""Figures: one line per policy, bands, files in every format, and clear errors on bad data."""

from __future__ import annotations

import inspect
import json
import shutil
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from recsim_llm.analysis import plots as P
from recsim_llm.analysis import report as R
from recsim_llm.analysis import stats as S
from recsim_llm.config import ScenarioConfig, override
from recsim_llm.runner import simulate

POLICIES = ["random", "greedy", "mmr"]
SEEDS = [0, 1, 2]
DAYS = 12


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real run (about 2 s): 3 policies x 3 seeds x 12 days."""
    out = tmp_path_factory.mktemp("run")
    cfg = override(ScenarioConfig(), **{"encoder": "hashing:64", "horizon_days": DAYS,
                                        "population.n_users": 100, "catalog.n_items": 60})
    simulate(cfg, POLICIES, SEEDS, out=out)
    return out


@pytest.fixture(scope="module")
def daily(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "daily.csv")


@pytest.fixture(scope="module")
def groups(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "groups.csv")


def copy_run(run_dir: Path, dest: Path) -> Path:
    shutil.copytree(run_dir, dest, ignore=shutil.ignore_patterns("figures", "report.html"))
    return dest


def policy_lines(ax: object) -> list[str]:
    return [ln.get_label() for ln in ax.get_lines() if not ln.get_label().startswith("_")]


def bands(ax: object) -> int:
    return sum(isinstance(c, PolyCollection) for c in ax.collections)


def test_plot_metric_one_line_and_band_per_policy(daily: pd.DataFrame) -> None:
    fig = P.plot_metric(daily, "retention")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert policy_lines(ax) == POLICIES
    assert len(ax.get_lines()) == len(POLICIES)
    assert bands(ax) == len(POLICIES)
    assert ax.get_xlabel() == "Day"
    ylabel = ax.get_ylabel().replace("\n", " ")
    assert "Retention" in ylabel and "share of joined users" in ylabel
    # every x is a day; the line is the mean across seeds
    line = ax.get_lines()[0]
    curve = S.curve_with_ci(daily, "retention")
    assert list(line.get_xdata()) == list(range(1, DAYS + 1))
    assert list(line.get_ydata()) == pytest.approx(
        curve[curve.policy == "random"]["mean"].tolist())


def test_plot_metric_into_given_axes_and_policy_order(daily: pd.DataFrame) -> None:
    fig = Figure()
    ax = fig.add_subplot()
    assert P.plot_metric(daily, "ctr", ax=ax, policies=["mmr", "random"]) is fig
    assert policy_lines(ax) == ["mmr", "random"]
    with pytest.raises(ValueError, match="valid policies"):
        P.plot_metric(daily, "ctr", policies=["nope"])
    with pytest.raises(ValueError, match=r"column 'nope' missing.*valid metrics"):
        P.plot_metric(daily, "nope")


def test_single_seed_warns_and_draws_no_band(daily: pd.DataFrame) -> None:
    with pytest.warns(S.NoConfidenceBandWarning, match="only 1 seed: no confidence band"):
        fig = P.plot_metric(daily[daily.seed == 0], "ctr")
    assert bands(fig.axes[0]) == 0 and len(fig.axes[0].get_lines()) == 3
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        P.plot_dashboard(daily[daily.seed == 0])
    assert sum(issubclass(w.category, S.NoConfidenceBandWarning) for w in rec) == 1


def test_dashboard_panels(daily: pd.DataFrame) -> None:
    fig = P.plot_dashboard(daily)
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert len(axes) == len(P.DEFAULT_METRICS) == 10
    titles = [ax.get_title() for ax in axes]
    assert titles[0] == "Retention" and titles[-2] == "Exposure share: independent"
    assert titles[-1] == "Cumulative clicks per initial user"
    for ax in axes:
        assert policy_lines(ax) == POLICIES
    assert [t.get_text() for t in fig.legends[0].get_texts()] == POLICIES


def test_dashboard_with_one_provider_group(daily: pd.DataFrame) -> None:
    one = daily.drop(columns=["exposure_share:independent"])
    fig = P.plot_dashboard(one)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("not applicable" in t for t in texts)
    with pytest.raises(ValueError, match="'coverage' missing"):
        P.plot_dashboard(daily.drop(columns=["coverage"]))


def test_group_gaps(groups: pd.DataFrame) -> None:
    fig = P.plot_group_gaps(groups, "taste", "retention")
    (ax,) = [a for a in fig.axes]
    assert policy_lines(ax) == POLICIES
    assert len(ax.get_lines()) == len(POLICIES) + 1  # plus the dashed zero line
    assert "minority − rest" in ax.get_title()
    fig = P.plot_group_gaps(groups, "taste", ["retention", "ctr", "mean_satisfaction"])
    assert len(fig.axes) == 3
    with pytest.raises(ValueError, match=r"valid keys: \['taste'\]"):
        P.plot_group_gaps(groups, "age", "retention")
    with pytest.raises(ValueError, match="valid groups"):
        P.plot_group_gaps(groups, "taste", "retention", focus="martians")


def test_survival_curve(run_dir: Path) -> None:
    users = pd.read_csv(run_dir / "users.csv")
    fig = P.plot_survival(users)
    (ax,) = fig.axes
    assert policy_lines(ax) == POLICIES and bands(ax) == len(POLICIES)
    km = S.kaplan_meier_by(users)
    line = ax.get_lines()[0]
    random = km[km.policy == "random"]
    assert line.get_ydata()[0] == 1.0
    assert list(line.get_ydata()[1:]) == pytest.approx(random["survival"].tolist())
    assert ax.get_xlabel() == "Days since arrival"


def test_training_phase_is_shaded(daily: pd.DataFrame) -> None:
    phased = daily.assign(phase=["train" if d <= 4 else "eval" for d in daily["day"]])
    fig = P.plot_metric(phased, "ctr")
    (ax,) = fig.axes
    assert len(ax.get_lines()) == len(POLICIES)  # the shading is a patch, not a line
    assert [t.get_text() for t in ax.texts] == ["training"]
    x0, x1 = ax.patches[0].get_x(), ax.patches[0].get_x() + ax.patches[0].get_width()
    assert (x0, x1) == pytest.approx((0.5, 4.5))
    assert not P.plot_metric(daily, "ctr").axes[0].patches


def test_plot_run_writes_png_and_pdf(run_dir: Path, tmp_path: Path) -> None:
    paths = P.plot_run(run_dir, out_dir=tmp_path / "figs", dpi=40)  # low dpi: fast
    names = {p.name for p in paths}
    for stem in ("dashboard", "churn_hazard", "survival", "group_gaps_taste", "metric_retention",
                 "metric_exposure_share_independent"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= names
    assert len(paths) == 2 * len({p.stem for p in paths})
    for p in paths:
        head = p.read_bytes()[:8]
        assert head.startswith(b"\x89PNG" if p.suffix == ".png" else b"%PDF"), p


def test_errors_say_what_is_missing(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        P.plot_run(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"daily.csv not found in .*empty"):
        P.plot_run(tmp_path / "empty")

    r = copy_run(run_dir, tmp_path / "zero")
    (r / "daily.csv").write_text("")
    with pytest.raises(ValueError, match=r"daily\.csv has no rows"):
        P.plot_run(r)
    header = (run_dir / "daily.csv").read_text().splitlines()[0]
    (r / "daily.csv").write_text(header + "\n")
    with pytest.raises(ValueError, match=r"daily\.csv has no rows"):
        P.plot_run(r)

    r = copy_run(run_dir, tmp_path / "col")
    pd.read_csv(r / "daily.csv").drop(columns="retention").to_csv(r / "daily.csv", index=False)
    with pytest.raises(ValueError, match=r"column 'retention' missing in daily\.csv"):
        P.plot_run(r)

    r = copy_run(run_dir, tmp_path / "seed")
    d = pd.read_csv(r / "daily.csv")
    d[~((d.policy == "mmr") & (d.seed == 2))].to_csv(r / "daily.csv", index=False)
    with pytest.raises(ValueError, match=r"partial data.*policy 'mmr' lacks seeds \[2\]"):
        P.plot_run(r)

    r = copy_run(run_dir, tmp_path / "days")
    d[~((d.policy == "greedy") & (d.seed == 1) & (d.day > DAYS - 2))].to_csv(
        r / "daily.csv", index=False)
    with pytest.raises(ValueError, match=rf"policy 'greedy' seed 1 lacks days \[{DAYS - 1}, "
                                         rf"{DAYS}\]"):
        P.plot_run(r)

    r = copy_run(run_dir, tmp_path / "short")  # every run stops early: the manifest tells
    d[d.day <= DAYS - 2].to_csv(r / "daily.csv", index=False)
    with pytest.raises(ValueError, match=rf"seed 0 lacks days \[{DAYS - 1}, {DAYS}\]"):
        P.plot_run(r)

    r = copy_run(run_dir, tmp_path / "manifest")
    man = json.loads((r / "manifest.json").read_text())
    (r / "manifest.json").write_text(json.dumps({**man, "complete": False}))
    with pytest.raises(ValueError, match="says the run is not complete"):
        P.plot_run(r)
    (r / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"manifest\.json .* not valid JSON"):
        P.plot_run(r)

    with pytest.raises(ValueError, match="unknown figure formats"):
        P.plot_run(run_dir, out_dir=tmp_path / "x", formats=("png", "docx"))


def test_missing_groups_is_a_warning(run_dir: Path, tmp_path: Path) -> None:
    r = copy_run(run_dir, tmp_path / "nogroups")
    (r / "groups.csv").unlink()
    with pytest.warns(UserWarning, match="groups.csv not found"):
        paths = P.plot_run(r, formats=("png",), individual=False, dpi=30)
    # default folder: run_dir/figures
    assert all(p.parent == r / "figures" and p.suffix == ".png" for p in paths)
    assert {p.name for p in paths} == {"dashboard.png", "churn_hazard.png", "survival.png"}
    assert not any(p.name.startswith("group_gaps") for p in paths)
    (r / "groups.csv").write_text("\n")
    with pytest.warns(UserWarning, match="groups.csv has no rows"):
        P.read_run(r)


def test_no_global_pyplot_state(daily: pd.DataFrame) -> None:
    # Figures are built from matplotlib.figure.Figure: pyplot (global state) is never used.
    for mod in (P, R):
        src = inspect.getsource(mod)
        assert "matplotlib.pyplot" not in src and "import pyplot" not in src
    P.plot_dashboard(daily)
    if "matplotlib.pyplot" in sys.modules:  # imported by something else in this process
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []


def test_axes_keep_to_the_range_and_curves_set_them() -> None:
    """Three seeds with a wide spread: a t band would run below 0; the axis stays in [0, 1]
    and is set by the curves, not by the widest band."""
    rows = [{"scenario": "s", "policy": p, "seed": s, "day": d, "retention": v}
            for p, vals in (("wide", (0.02, 0.05, 0.4)), ("tight", (0.80, 0.81, 0.82)))
            for s, v in enumerate(vals) for d in (1, 2, 3)]
    fig = P.plot_metric(pd.DataFrame(rows), "retention")
    y0, y1 = fig.axes[0].get_ylim()
    assert 0.0 <= y0 and y1 <= 1.0
    curve = S.curve_with_ci(pd.DataFrame(rows), "retention")
    assert (curve["lo"] >= 0).all() and (curve["hi"] <= 1).all()
    assert y0 <= curve["mean"].min() and curve["mean"].max() <= y1


def test_captions_state_the_interval_method() -> None:
    assert "logit" in P.BAND_METHOD and "bootstrap" in P.BAND_METHOD
