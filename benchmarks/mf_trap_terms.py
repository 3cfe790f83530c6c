"""Why `mf`'s trap exposure moves: which score term ranks trap items first, and how the users'
taste for them changes.

Runs `mf` on the default synthetic world (MiniLM unless ``--set encoder=...``) for ``--days``
days and prints, over the users served in the last week:

* the trap exposure on day 1 and over the last 7 days, and the retention;
* the taste gap: the pooled interest cosine to trap items minus that to other items, with the
  persona's interests (day 0) and with the interests at the end;
* the trap share of each user's top 10 by `mf`'s item bias ``b_i`` alone, by the personal term
  ``U_u . V_i`` alone and by the whole score.

Usage::

    PYTHONPATH=. python benchmarks/mf_trap_terms.py --days 120 --seed 0
    PYTHONPATH=. python benchmarks/mf_trap_terms.py --days 120 --set dynamics.drift_by=satisfaction
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd

from recsim_llm.config import ScenarioConfig, override
from recsim_llm.runner import run_policy
from recsim_llm.scenarios import build_world
from recsim_llm.users import dynamics as dyn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override, the value as JSON (strings may be bare)")
    args = ap.parse_args()
    extra = {}
    for item in args.set:
        key, _, raw = item.partition("=")
        try:
            extra[key] = json.loads(raw)
        except json.JSONDecodeError:
            extra[key] = raw
    cfg = override(ScenarioConfig(), **{"population.n_users": args.users,
                                        "horizon_days": args.days, **extra})
    world = build_world(cfg, args.seed)
    box: dict = {}
    res = run_policy(world, "mf", args.seed, attach=[lambda sim: box.setdefault("sim", sim)])
    sim, pol = box["sim"], res.policy
    trap = sim.trap_items()
    users = np.flatnonzero(res.final_log.last_visit_day >= args.days - 7)

    def taste_gap(interest: np.ndarray) -> float:
        cos = np.einsum("ukd,id->uki", interest[users], world.item_emb)
        t = dyn.pool_interests(cos, world.interest_logw[users][:, :, None],
                               cfg.choice.pool_temperature, axis=1)
        return float(t[:, trap].mean() - t[:, ~trap].mean())

    daily = pd.DataFrame(res.daily).set_index("day")
    print(f"mf, {args.users} users, {args.days} days, seed {args.seed}, overrides {extra}; "
          f"{len(users)} users served in the last week")
    print(f"trap exposure day 1 {daily.trap_exposure.iloc[0]:.3f}, last 7 days "
          f"{daily.trap_exposure.iloc[-7:].mean():.3f}; retention {daily.retention.iloc[-1]:.3f}")
    print(f"taste gap trap - other: day 0 {taste_gap(world.interest0):+.4f}, day {args.days} "
          f"{taste_gap(sim.state.interest):+.4f}")
    personal = pol.U[users] @ pol.V.T
    for name, score in [("item bias b_i", np.broadcast_to(pol.b, personal.shape)),
                        ("personal U.V", personal), ("whole score", personal + pol.b)]:
        top = np.argpartition(-score, 10, axis=1)[:, :10]
        print(f"trap share of each user's top 10 by {name}: {trap[top].mean():.3f}")


if __name__ == "__main__":
    main()
