"""Markdown tables and the headline figures (``calibration.json``) of a calibration."""

from __future__ import annotations

import math
from typing import Any

from recsim_llm.calibration.constants import (
    SHIPPED_MODEL,
)


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return "nan" if math.isnan(x) else f"{x:.{digits}f}"
    return str(x)


def _fit_table(fits: dict[str, dict[str, Any]], intercept: str) -> list[str]:
    lines = [f"| model | temperature | lam_dislike | w_prior | {intercept} | NLL/event |"
             " converged |", "|---|---|---|---|---|---|---|"]
    for name, f in fits.items():
        se = f["std_err"]

        def cell(key: str, f: dict = f, se: dict = se) -> str:
            if se.get(key) is not None and not math.isnan(se[key]):
                return f"{f[key]:.3f} ± {se[key]:.3f}"
            return f"{f[key]:.3f}"
        lines.append(f"| {name} | {cell('temperature')} | {cell('lam_dislike')} | "
                     f"{cell('w_prior')} | {cell('no_click_utility')} | {f['nll']:.4f} | "
                     f"{f['converged']} |")
    return lines


def format_report(results: dict[str, Any]) -> str:
    """Markdown tables of a :func:`calibrate` result: fitted constants, AUC, decision metrics."""
    lines = [f"## Calibration: {results['scenario']}, encoder {results['encoder']}, "
             f"seed {results['seed']}", ""]
    c = results["counts"]
    lines += [f"users {c['users']} (dropped, too few ratings: "
              f"{c['users_dropped_too_few_ratings']}), films {c['items']}, ratings per period "
              f"{c['ratings_per_period']}, fit events {c['fit_events']} ({c['fit_liked']} liked), "
              f"held-out liked {c['heldout_liked']} of {c['heldout_users_with_liked']} users.", "",
              f"Position bias: {results['position_bias']}.", "",
              "### Fitted constants (fit period; liked vs sampled unseen; intercept at balanced "
              "odds; ± standard error)", "",
              *_fit_table(results["fits"], "no_click_utility")]
    ratios = list(next(iter(results["evaluation"].values()))["ratios"])
    lines += ["", "### Held-out period", "",
              "| model | AUC | AUC (pair-weighted) | "
              + " | ".join(f"{r} acc / prec / rec / F1" for r in ratios)
              + " | liked vs disliked AUC |",
              "|---|---|---|" + "---|" * len(ratios) + "---|"]
    for name, ev in results["evaluation"].items():
        cells = [" / ".join(_fmt(ev["ratios"][r][k]) for k in
                            ("accuracy", "precision", "recall", "f1")) for r in ratios]
        lines.append(f"| {name} | {_fmt(ev['auc'])} | {_fmt(ev['auc_pairs'])} | "
                     + " | ".join(cells) + f" | {_fmt(ev['auc_liked_vs_disliked'])} |")
    notes = [f"{k}: {m['note']}" for k, m in results["models"].items() if m["note"]]
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    if results.get("rating_fits"):
        lines += ["", "### Watched films only: liked (>= 4) vs disliked (<= 2.5), fit period",
                  "", *_fit_table(results["rating_fits"], "intercept"), "",
                  "| model | held-out liked vs disliked AUC | users |", "|---|---|---|"]
        for name, ev in results["rating_evaluation"].items():
            lines.append(f"| {name} | {_fmt(ev['auc_liked_vs_disliked'])} | "
                         f"{ev['n_users_liked_vs_disliked']} |")
    rec = results["recommended"]
    lines += ["", f"Recommended ({rec['model']}): "
              + ", ".join(f"{k} = {v:.3f}" for k, v in rec["choice_config"].items()),
              f"Shipped ({results['shipped']['model']}, the MovieLens scenarios' default): "
              + ", ".join(f"{k} = {v:.3f}" for k, v in
                          results["shipped"]["choice_config"].items()),
              "", "Headline (calibration.json): " + ", ".join(
                  f"{k} {_fmt(v)}" for k, v in headline(results).items()
                  if not isinstance(v, dict)),
              "", "Timings (s): " + ", ".join(f"{k} {v:.1f}"
                                             for k, v in results["timings"].items()),
              ""]
    return "\n".join(lines)


def headline(results: dict[str, Any]) -> dict[str, Any]:
    """The figures of ``calibration.json``: held-out discrimination of the shipped model under
    both protocols and its 1:1 accuracy, next to popularity alone and text alone."""
    ev = results["evaluation"]

    def figures(name: str) -> dict[str, float]:
        e = ev[name]
        return {"auc_random": e["auc"], "auc_popularity_matched": e.get("auc_popularity_matched",
                                                                        float("nan")),
                "accuracy_1to1": e["ratios"]["1:1"]["accuracy"]}
    return {**figures(SHIPPED_MODEL), "model": SHIPPED_MODEL,
            "popularity_only": figures("popularity-only"), "text_only": figures("text-only"),
            "choice_config": results["shipped"]["choice_config"],
            "goals": {"auc_random": 0.87, "auc_popularity_matched": 0.65}}
