"""Checkpoints of the LLM ranker: a folder with the model weights, the tokenizer and the config.

Layout::

    PATH/config.json     format, ranker config, backbone identity, policy counters
    PATH/model.pt        the ranker's state_dict (torch tensors only: ``weights_only`` loads)
    PATH/policy.npz      the policy's arrays (histories, interaction log)
    PATH/tokenizer/      ``tokenizer.save_pretrained`` (the ranker reads text with it)

Loading a checkpoint into a ranker built on another backbone or architecture is refused with
:class:`CheckpointMismatchError`, naming both identities.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recsim_llm.agents.base import PolicyError

FORMAT = "recsim_llm.llm_ranker/1"


class CheckpointMismatchError(PolicyError):
    """The checkpoint holds another model (backbone or architecture) or is not a ranker's."""


def save_ranker_checkpoint(path: str | Path, *, meta: dict[str, Any],
                           model_state: dict[str, torch.Tensor], arrays: dict[str, np.ndarray],
                           tokenizer: Any) -> Path:
    """Write the checkpoint folder (files replaced atomically one by one)."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".model.pt.tmp{os.getpid()}"
    torch.save({k: v.detach().cpu() for k, v in model_state.items()}, tmp)
    os.replace(tmp, out / "model.pt")
    tmp = out / f".policy.tmp{os.getpid()}.npz"
    savez: Any = np.savez  # numpy's stub types **kwds against allow_pickle
    savez(tmp, **arrays)
    os.replace(tmp, out / "policy.npz")
    tokenizer.save_pretrained(out / "tokenizer")
    tmp = out / f".config.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps({"format": FORMAT, **meta}, indent=2, default=_json_default))
    os.replace(tmp, out / "config.json")
    return out


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_meta(path: str | Path) -> dict[str, Any]:
    """The checkpoint's ``config.json``; a clear error if ``path`` is not a ranker checkpoint."""
    p = Path(path)
    cfg_file = p / "config.json"
    if not cfg_file.is_file():
        raise CheckpointMismatchError(f"{p} is not an LLM-ranker checkpoint (no config.json)")
    try:
        meta = json.loads(cfg_file.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointMismatchError(f"{cfg_file} is not valid JSON: {err}") from None
    if meta.get("format") != FORMAT:
        raise CheckpointMismatchError(
            f"{p} holds format {meta.get('format')!r}, not an LLM-ranker checkpoint ({FORMAT!r})"
            " - e.g. a plain Hugging Face model folder; pass it as llm model_path instead")
    return meta


def load_ranker_checkpoint(path: str | Path, expect_identity: str | None = None
                           ) -> tuple[dict[str, Any], dict[str, torch.Tensor],
                                      dict[str, np.ndarray]]:
    """(meta, model state_dict, policy arrays) of a checkpoint.

    Raises:
        CheckpointMismatchError: not a ranker checkpoint, or (with ``expect_identity``) one of
            another backbone/architecture.
    """
    p = Path(path)
    meta = read_meta(p)
    if expect_identity is not None and meta.get("identity") != expect_identity:
        raise CheckpointMismatchError(
            f"checkpoint {p} was made by model {meta.get('identity')!r}, but this ranker is "
            f"{expect_identity!r}; build the policy from the checkpoint "
            f"(LLMRankerPolicy.load) or use a checkpoint of this model")
    state = torch.load(p / "model.pt", map_location="cpu", weights_only=True)
    with np.load(p / "policy.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return meta, state, arrays
