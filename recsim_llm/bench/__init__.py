"""Benchmark suites: policies x scenarios x seeds on a local or Ray backend, and leaderboards.

``recsim-llm bench --suite small --out DIR`` runs :func:`run_suite`; ``recsim-llm compare A B``
runs :func:`recsim_llm.bench.compare.compare`. Suites are TOML files (``benchmarks/suites/``),
see :mod:`recsim_llm.bench.suite`.
"""

from recsim_llm.bench.backends import BACKENDS, BackendError, run_unit
from recsim_llm.bench.leaderboard import METRICS, leaderboard, run_headline
from recsim_llm.bench.run import SuiteResult, assemble, run_suite
from recsim_llm.bench.suite import Suite, SuiteError, Unit, load_suite, parse_suite

__all__ = ["BACKENDS", "METRICS", "BackendError", "Suite", "SuiteError", "SuiteResult", "Unit",
           "assemble", "leaderboard", "load_suite", "parse_suite", "run_headline", "run_suite",
           "run_unit"]
