"""The README's Python examples run as written (tiny budgets are the README's own)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    found = [b for b in blocks if marker in b]
    assert len(found) == 1, f"expected one README python block with {marker!r}"
    return found[0]


def test_train_ppo_and_replay_with_simulate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    torch.set_num_threads(1)
    monkeypatch.chdir(tmp_path)
    code = _block("PPO(")
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    daily = scope["result"].daily
    assert {p for p in daily.policy if p.startswith("sb3:")}
    assert {"greedy", "mmr"} <= set(daily.policy)
    assert os.path.exists(tmp_path / "runs" / "ppo" / "model.zip")


def test_torch_population_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The GPU example (on this machine's CPU: ``device="auto"`` falls back): both oracles
    run the 30 days and the value oracle keeps at least as many users."""
    torch.set_num_threads(1)
    scope: dict = {}
    exec(compile(_block("TorchPopulation("), "README.md", "exec"), scope)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["click_scores", "value_scores"]
    retention = [float(line.split()[1]) for line in lines]
    assert retention[1] >= retention[0] and len(scope["days"]) == 30
