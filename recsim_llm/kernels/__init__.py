"""Fused compiled kernels of the population step (numba), next to the numpy reference.

The numpy code in :mod:`recsim_llm.simulator` and :mod:`recsim_llm.users` is the *reference*:
it defines the user model, and the default (``simulator.kernel = "numpy"``) keeps every
published number reproducible bit for bit. ``"numba"`` runs the same equations as one fused,
multi-threaded pass over each served user's row (:mod:`recsim_llm.kernels.population`):
utilities equal the reference's to float32 rounding (the dot products sum in another order),
so a trajectory is the reference's until the first choice that a rounding difference flips
and the same in distribution after that (tested: identical choices on a fixed seed over short
runs, 30-day daily metrics within seed-to-seed noise). Each path alone is bit-identical from
run to run (and across thread counts: a served user's arithmetic runs in one thread).

Random numbers never come from numba: the kernels take the arrays the simulator drew from the
project's named streams (:mod:`recsim_llm.rng`), so two policies on a seed still see the same
exogenous draws under either kernel.
"""

from __future__ import annotations

from typing import Literal

KERNELS = ("numpy", "numba", "auto")
"""values of ``SimulatorConfig.kernel``: ``auto`` = numba when it imports, else numpy"""

Kernel = Literal["numpy", "numba"]


def numba_available() -> bool:
    """Whether numba imports (the fused kernels can run)."""
    try:
        import numba  # noqa: F401
    except ImportError:  # pragma: no cover - numba is a dependency
        return False
    return True


def resolve_kernel(name: str) -> Kernel:
    """The kernel a simulator runs for the configured ``name``.

    Raises:
        ValueError: an unknown name, or ``"numba"`` where numba does not import.
    """
    if name not in KERNELS:
        raise ValueError(f"simulator.kernel must be one of {list(KERNELS)}, got {name!r}")
    if name == "numpy":
        return "numpy"
    if numba_available():
        return "numba"
    if name == "auto":
        return "numpy"
    raise ValueError("simulator.kernel = 'numba' but numba does not import; install numba "
                     "or use kernel = 'auto' (falls back to numpy)")


__all__ = ["KERNELS", "Kernel", "numba_available", "resolve_kernel"]
