"""One seed, named child streams.

Every source of randomness draws from its own stream, derived from the run seed and the stream's
*name* (not from the order in which streams are asked for). Swapping the policy therefore leaves
the population and every exogenous draw unchanged: two policies run on the same seed see the same
users and the same noise (common random numbers). No global ``np.random`` state is ever used.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

STREAM_NAMES = ("users", "items", "choice", "satisfaction", "drift", "churn", "arrivals",
                "policy", "env")


KEY_WORDS = 4
"""32-bit words of a stream's spawn key: a 128-bit name digest."""


def _name_key(name: str) -> tuple[int, ...]:
    """A stable 128-bit spawn key from the name (Python's hash() is salted per process).

    A 32-bit digest made two day streams collide within 13,537 days (birthday bound ~2^16
    names); with 128 bits the chance of any collision among 10^9 names is below 10^-20.
    """
    digest = hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=4 * KEY_WORDS)
    raw = digest.digest()
    return tuple(int.from_bytes(raw[4 * i:4 * i + 4], "little") for i in range(KEY_WORDS))


def seed_sequence(seed: int, name: str) -> np.random.SeedSequence:
    """The SeedSequence of stream ``name`` under run seed ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.SeedSequence(int(seed), spawn_key=_name_key(name))


class RngStreams:
    """Named :class:`numpy.random.Generator` streams derived from one seed.

    ``streams["choice"]`` always returns the same generator object for a name, so draws advance
    it; ``streams.fresh("users")`` returns a new generator at the stream's start;
    ``streams.child("day3")`` a family of streams whose names are prefixed, disjoint from these.
    """

    def __init__(self, seed: int, prefix: str = "") -> None:
        seed_sequence(seed, "check")  # validates the seed
        self.seed = int(seed)
        self.prefix = prefix
        self._gens: dict[str, np.random.Generator] = {}

    def __getitem__(self, name: str) -> np.random.Generator:
        if name not in self._gens:
            self._gens[name] = self.fresh(name)
        return self._gens[name]

    def fresh(self, name: str) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(seed_sequence(self.seed, self.prefix + name)))

    def child(self, name: str) -> RngStreams:
        return RngStreams(self.seed, prefix=f"{self.prefix}{name}/")

    def state(self) -> dict[str, dict[str, Any]]:
        """Bit-generator states of the streams used so far (for checkpoints)."""
        return {k: dict(g.bit_generator.state) for k, g in self._gens.items()}

    def set_state(self, state: dict[str, dict[str, Any]]) -> None:
        for k, s in state.items():
            self[k].bit_generator.state = s
