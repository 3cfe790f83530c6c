"""The HTML report: self-contained, escaped, complete, and rendered by a real browser."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsim_llm.analysis import report as R
from recsim_llm.config import ScenarioConfig, override
from recsim_llm.runner import simulate

# A hostile policy name: every place that shows it must escape it.
EVIL = 'mmr<script>alert("x")</script>&'
POLICIES = ["random", "greedy", EVIL]
IMG = '<img src="data:image/png;base64,'


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real run whose third policy is renamed to :data:`EVIL` in every file."""
    out = tmp_path_factory.mktemp("run")
    cfg = override(ScenarioConfig(), **{"encoder": "hashing:64", "horizon_days": 12,
                                        "population.n_users": 100, "catalog.n_items": 60})
    simulate(cfg, ["random", "greedy", "mmr"], [0, 1, 2], out=out)
    for name in ("daily.csv", "groups.csv", "users.csv"):
        df = pd.read_csv(out / name)
        df["policy"] = df["policy"].replace({"mmr": EVIL})
        df.to_csv(out / name, index=False)
    man = json.loads((out / "manifest.json").read_text())
    man["policies"] = POLICIES
    (out / "manifest.json").write_text(json.dumps(man))
    return out


@pytest.fixture(scope="module")
def report(run_dir: Path) -> Path:
    return R.write_report(run_dir)


def test_report_is_one_self_contained_file(report: Path, run_dir: Path) -> None:
    assert report == run_dir / "report.html" and report.is_file()
    html = report.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower() and "<link" not in html.lower()
    # every src= is an embedded PNG; nothing else is fetched
    srcs = re.findall(r'src="([^"]*)"', html)
    assert len(srcs) == 4  # dashboard, churn hazard, survival, group gaps
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert html.count(IMG) == len(srcs)
    for s in srcs:
        assert base64.b64decode(s.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    assert "url(" not in html and "@import" not in html


def test_report_contents(report: Path, run_dir: Path) -> None:
    html = report.read_text(encoding="utf-8")
    man = json.loads((run_dir / "manifest.json").read_text())
    for text in ("recsim-llm report: synthetic", "Run summary", "Dashboard", "Group gaps",
                 "Headline metrics", "Paired differences", "Configuration",
                 "random", "greedy", "3: 0, 1, 2", "1–12", "Retention", "Click-through rate",
                 "Exposure share: independent", "days 3–12", "population.n_users",
                 "Kaplan-Meier", "Training phase", "none (policies learn throughout)",
                 man["recsim_llm_version"]):
        assert text in html, text
    if man.get("git_commit"):
        assert man["git_commit"] in html
    # the headline cells hold "mean [lo, hi]"; the paired cells signed differences vs random
    assert re.search(r"<td class=num>\d\.\d+ \[\d\.\d+, \d\.\d+\]</td>", html)
    assert "greedy − random" in html
    assert re.search(r"[+-]\d[.\d]* \[[+-]\d[.\d e+-]*, [+-]\d[.\d e+-]*\]", html)


def test_report_escapes_text(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert EVIL not in html and "<script>" not in html
    assert 'mmr&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;' in html


def test_report_options_and_errors(run_dir: Path, tmp_path: Path) -> None:
    out = R.write_report(run_dir, tmp_path / "sub" / "r.html", reference="greedy",
                         window="last 3 days")
    html = out.read_text(encoding="utf-8")
    assert "random − greedy" in html and "days 10–12" in html
    with pytest.raises(ValueError, match="valid policies"):
        R.write_report(run_dir, tmp_path / "x.html", reference="nobody")
    with pytest.raises(ValueError, match="not found"):
        R.write_report(tmp_path / "nowhere")


def test_report_of_one_policy_and_one_seed(run_dir: Path, tmp_path: Path) -> None:
    r = tmp_path / "one"
    r.mkdir()
    for name in ("daily.csv", "groups.csv", "users.csv"):
        df = pd.read_csv(run_dir / name)
        df[(df.seed == 0) & (df.policy == "greedy")].to_csv(r / name, index=False)
    man = json.loads((run_dir / "manifest.json").read_text())
    (r / "manifest.json").write_text(json.dumps({**man, "policies": ["greedy"], "seeds": [0]}))
    with pytest.warns(UserWarning, match="only 1 seed: no confidence band"):
        html = R.write_report(r).read_text(encoding="utf-8")
    assert "only 1 seed: no confidence intervals" in html
    assert "Only one policy: nothing to compare." in html
    assert html.count(IMG) == 4


CHROMIUM = shutil.which("chromium")
COUNT_IMAGES = (
    "<script>window.addEventListener('load', function () {"
    " var a = Array.from(document.images);"
    " var ok = a.filter(function (i) { return i.complete && i.naturalWidth > 0; });"
    " document.title = 'IMAGES ' + ok.length + '/' + a.length; });</script>")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed "
                    "(apt-get install -y chromium) -- headless rendering check skipped")
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    html = report.read_text(encoding="utf-8")
    n_img = html.count(IMG)
    # A copy with a tiny script that writes the number of decoded images into the title.
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", COUNT_IMAGES + "</body>"), encoding="utf-8")
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000"]
    dom = subprocess.run([*args, "--dump-dom", probe.as_uri()], capture_output=True,
                         text=True, timeout=120, check=False)
    assert dom.returncode == 0, dom.stderr[-2000:]
    title = re.search(r"<title>([^<]*)</title>", dom.stdout)
    assert title is not None, dom.stdout[:500]
    assert title.group(1) == f"IMAGES {n_img}/{n_img}"
    # and the original report itself renders to a non-trivial screenshot
    shot = tmp_path / "shot.png"
    run = subprocess.run([*args, "--window-size=1280,2000", f"--screenshot={shot}",
                          report.as_uri()], capture_output=True, text=True, timeout=120,
                         check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000


def test_report_has_first_week_table_findings_and_cumulative_clicks(report: Path,
                                                                      run_dir: Path) -> None:
    html = report.read_text(encoding="utf-8")
    daily = pd.read_csv(run_dir / "daily.csv")
    assert "cumulative_clicks_per_initial_user" in daily.columns
    # Non-decreasing per (policy, seed): it counts every click of the day-0 users so far.
    for _, g in daily.groupby(["policy", "seed"]):
        assert (np.diff(g.sort_values("day")["cumulative_clicks_per_initial_user"]) >= 0).all()
    last = int(daily["day"].max())
    assert "Days 1–7" in html and f"Days {last - 9}–{last}" in html
    assert "Cumulative clicks per initial user" in html
    assert "<h2>Key findings</h2>" in html
    assert "greedy against random over days" in html
    assert html.count("against random over days") == 2  # one sentence per compared policy
    assert "logit" in html  # the interval method is stated


def test_key_findings_are_generated_from_paired_differences() -> None:
    from recsim_llm.analysis import stats as S

    rows = []
    for s in range(4):
        for d in range(1, 11):
            rows.append({"scenario": "x", "policy": "a", "seed": s, "day": d,
                         "retention": 0.8 + 0.01 * s, "ctr": 0.3})
            rows.append({"scenario": "x", "policy": "b", "seed": s, "day": d,
                         "retention": 0.6 + 0.012 * s, "ctr": 0.3 + 0.001 * (s % 2)})
    text = S.key_findings(pd.DataFrame(rows), "a", late="last 3 days", early="first 2 days")
    assert len(text) == 1
    t = text[0]
    assert t.startswith("b against a over days 8–10 (4 paired seeds, 95% intervals): retention -0.")
    assert "days 1–2: -0." in t and "No clear difference in click-through rate" in t
