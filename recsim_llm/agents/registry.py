"""Policy specs: ``name`` or ``name:ARG`` strings, saved-policy files, and policy objects.

Every family registers its names here (baselines and oracles below; the LLM ranker, BPR and
Stable-Baselines3 agents from their own modules, imported lazily so that torch or SB3 load only
when such a policy is asked for). ``make_policy`` turns a spec into a fresh policy;
``resolve_policy`` also accepts a policy object or the path of a file written by
:meth:`~recsim_llm.agents.base.BasePolicy.save`.
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recsim_llm.agents.base import SAVE_FORMAT, BasePolicy, PolicyError


@dataclass(frozen=True)
class PolicyEntry:
    factory: Callable[[str | None], BasePolicy]
    """builds the policy from the spec's argument (None when the spec has no ``:ARG``)"""
    help: str
    """one line for ``--help`` and error messages, e.g. ``mmr[:ALPHA] greedy re-ranked ...``"""


_REGISTRY: dict[str, PolicyEntry] = {}
_LAZY: dict[str, str] = {
    "mf": "recsim_llm.agents.collaborative",
    "bpr": "recsim_llm.agents.bpr",
    "llm": "recsim_llm.agents.llm",
    "sb3": "recsim_llm.agents.sb3",
}
"""names whose module registers them on import (heavy dependencies load only when used)"""


def register_policy(name: str, factory: Callable[[str | None], BasePolicy], help: str) -> None:
    """Register ``name`` (idempotent for the same factory)."""
    if ":" in name or not name:
        raise ValueError(f"policy names are non-empty and have no ':', got {name!r}")
    _REGISTRY[name] = PolicyEntry(factory, help)


def _entry(name: str) -> PolicyEntry | None:
    if name not in _REGISTRY and name in _LAZY:
        try:
            importlib.import_module(_LAZY[name])
        except ModuleNotFoundError as err:
            missing = err.name or "a dependency"
            raise PolicyError(f"policy {name!r} needs {missing!r}, which is not installed "
                              f"(pip install 'recsim-llm[{'rl' if name == 'sb3' else 'llm'}]')"
                              ) from None
    return _REGISTRY.get(name)


def policy_names() -> list[str]:
    return sorted(set(_REGISTRY) | set(_LAZY))


def policy_help() -> str:
    """One line per registered (or lazily available) policy."""
    lines = []
    for name in policy_names():
        entry = _REGISTRY.get(name)
        lines.append(entry.help if entry is not None else f"{name}  (see its module)")
    return "\n".join(lines)


def make_policy(spec: str) -> BasePolicy:
    """A fresh policy from a spec such as ``greedy``, ``mmr:0.3``, ``llm:7``, ``sb3:PATH``.

    Raises:
        ValueError: unknown name or bad argument (one line naming the valid policies).
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"a policy spec is a non-empty string, got {spec!r}")
    name, sep, arg = spec.partition(":")
    entry = _entry(name)
    if entry is None:
        raise ValueError(f"unknown policy {spec!r}; valid policies: {policy_names()} "
                         f"(e.g. 'mmr:0.3', 'llm:7', 'sb3:runs/ppo/model.zip')")
    try:
        policy = entry.factory(arg if sep else None)
    except (TypeError, ValueError) as err:
        raise ValueError(f"bad policy {spec!r}: {err}") from None
    policy.spec = spec
    return policy


def load_policy(path: str | Path) -> BasePolicy:
    """A policy saved by :meth:`BasePolicy.save`: rebuilt from its spec, parameters loaded."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            data = pickle.load(fh)
    except FileNotFoundError:
        raise PolicyError(f"no saved policy at {p}") from None
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError) as err:
        raise PolicyError(f"{p} is not a readable saved policy ({type(err).__name__}: {err})"
                          ) from None
    if not isinstance(data, dict) or data.get("format") != SAVE_FORMAT or "spec" not in data:
        raise PolicyError(f"{p} is not a recsim_llm saved policy (format {SAVE_FORMAT})")
    policy = make_policy(data["spec"])
    policy.load_params(data["params"])
    policy.spec = f"{data['spec']}@{p}"
    return policy


def resolve_policy(spec: str | Path | BasePolicy) -> BasePolicy:
    """A policy from a spec string, a saved-policy path (``*.pkl`` / existing file), or an
    object (returned as is)."""
    if isinstance(spec, BasePolicy):
        return spec
    if isinstance(spec, Path) or (isinstance(spec, str) and spec.endswith(".pkl")):
        return load_policy(spec)
    return make_policy(spec)


def policy_label(spec: str | Path | BasePolicy) -> str:
    """The name a policy's rows carry in the results (its spec, or ``name`` for objects)."""
    if isinstance(spec, BasePolicy):
        return spec.spec or spec.name
    return str(spec)


def _no_arg(cls: Callable[[], BasePolicy], name: str) -> Callable[[str | None], BasePolicy]:
    def build(arg: str | None) -> BasePolicy:
        if arg is not None:
            raise ValueError(f"policy {name!r} takes no argument")
        return cls()
    return build


def _register_baselines() -> None:
    from recsim_llm.agents import baselines as b
    from recsim_llm.agents.value_aware import make_dwell

    def mmr(arg: str | None) -> BasePolicy:
        if arg is None:
            return b.MMRPolicy()
        try:
            alpha = float(arg)
        except ValueError:
            raise ValueError(f"mmr takes a number alpha in [0, 1], got {arg!r}") from None
        return b.MMRPolicy(alpha=alpha)

    register_policy("random", _no_arg(b.RandomPolicy, "random"),
                    "random       k distinct available items uniformly at random")
    register_policy("popular", _no_arg(b.PopularPolicy, "popular"),
                    "popular      most clicked so far (from logged clicks)")
    register_policy("greedy", _no_arg(b.GreedyPolicy, "greedy"),
                    "greedy       content-based and myopic: cosine to the user's click profile")
    register_policy("dwell", make_dwell,
                    "dwell[:W]    value-aware greedy: cosine + W x the items' logged dwell (1)")
    register_policy("mmr", mmr, "mmr[:ALPHA]  greedy re-ranked for diversity (alpha 0.5)")
    register_policy("oracle", b.make_oracle,
                    "oracle[:click|value]  PRIVILEGED: reads the hidden state (reference only)")


_register_baselines()
