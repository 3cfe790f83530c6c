"""``recsim-llm calibrate``: load the data, calibrate, write the results."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from recsim_llm.calibration.constants import (
    CALIBRATION_SCENARIOS,
)
from recsim_llm.calibration.report import (
    format_report,
    headline,
)
from recsim_llm.calibration.run import (
    calibrate,
)
from recsim_llm.catalog.movielens import MovieLensData, load_movielens
from recsim_llm.scenarios import DATA_ENV_VAR


def _load(scenario: str, data: Path | None) -> MovieLensData:
    if scenario not in CALIBRATION_SCENARIOS:
        from recsim_llm.scenarios import scenario_names
        others = [s for s in scenario_names() if s not in CALIBRATION_SCENARIOS]
        hint = (f" ({scenario!r} has no rating history to calibrate against)"
                if scenario in others else "")
        raise ValueError(f"unknown scenario {scenario!r} for calibration{hint}; valid scenarios: "
                         f"{sorted(CALIBRATION_SCENARIOS)}")
    variant, folder_name = CALIBRATION_SCENARIOS[scenario]
    folder = Path(data) if data is not None else None
    if folder is None and os.environ.get(DATA_ENV_VAR):
        candidate = Path(os.environ[DATA_ENV_VAR]) / folder_name
        if candidate.exists() or variant == "latest-small":
            folder = candidate
    if folder is None:
        from recsim_llm.catalog.download import DEFAULT_DATA_DIR
        if (DEFAULT_DATA_DIR / folder_name).is_dir():  # written by `recsim-llm data`
            folder = DEFAULT_DATA_DIR / folder_name
    if folder is None and variant == "latest-small":
        raise FileNotFoundError(f"scenario {scenario!r} needs the ml-latest-small folder: pass "
                                f"--data PATH or set {DATA_ENV_VAR}")
    return load_movielens(folder, variant=variant)


def calibrate_command(scenario: str, data: Path | None, encoder: str, out: Path | None,
                      max_users: int | None, seed: int) -> dict[str, Any]:
    """``recsim-llm calibrate``: load the scenario's data, calibrate, write the results.

    Prints nothing. With ``out``, writes ``out/results.json`` (the returned dict) and
    ``out/report.md`` (:func:`format_report`).

    Args:
        scenario: ``"ml-100k"`` (default data: the ``recbole`` wheel's copy) or
            ``"ml-latest-small"`` (needs ``data`` or ``$RECSIM_LLM_DATA_DIR``).
        data: dataset folder, or None for the default.
        encoder: ``"minilm"``, ``"hashing[:dim]"`` or a local model folder.
        out: results folder (created), or None to write nothing.
        max_users: calibrate on a seeded sample of this many users, or None for all.
        seed: seed of every sample.

    Returns:
        The :func:`calibrate` dict: ``recommended`` (the ChoiceConfig values of the best text +
        prior model and which prior), ``for_catalog_quality`` (``w_quality`` etc. for the current
        catalog quality), ``position_bias`` (not identifiable), ``fits`` (every model's
        constants, standard errors, NLL), ``evaluation`` (held-out AUC and acc / precision /
        recall / F1 at each ratio), ``counts``, ``timings`` (seconds, ``load_s`` included), and
        ``report`` (the markdown tables); plus ``out_files`` when written.

    Raises:
        ValueError: unknown scenario (lists the valid ones), too few ratings to split, an empty
            held-out period.
        FileNotFoundError: the data folder is missing.
    """
    t0 = time.perf_counter()
    dataset = _load(scenario, data)
    load_s = time.perf_counter() - t0
    results = calibrate(dataset, scenario=scenario, encoder=encoder, max_users=max_users,
                        seed=seed)
    results["timings"] = {"load_s": load_s, **results["timings"],
                          "total_s": time.perf_counter() - t0}
    results["data"] = str(data) if data is not None else None
    results["report"] = format_report(results)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(
            json.dumps(_finite(results), indent=2, default=_json_default, allow_nan=False))
        (out / "report.md").write_text(results["report"])
        (out / "calibration.json").write_text(
            json.dumps(_finite(headline(results)), indent=2, default=_json_default,
                       allow_nan=False))
        results["out_files"] = [str(out / "results.json"), str(out / "report.md"),
                                str(out / "calibration.json")]
    return results


def _finite(x: Any) -> Any:
    """NaN / inf floats as None (strict JSON), recursively."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, (float, np.floating)) and not math.isfinite(float(x)):
        return None
    return x


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON-serialisable: {type(x).__name__}")
