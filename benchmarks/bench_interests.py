"""Cost of several interests per persona: population step at 1e5 users, d=64, in user-steps per
CPU-second (``time.process_time``, so a shared machine's other load counts less than in wall
time). Run it once per code tree and compare the ratio (docs/benchmarks.md, section 1b)::

    PYTHONPATH=OLD_TREE python benchmarks/bench_interests.py OLD_TREE 2
    PYTHONPATH=.        python benchmarks/bench_interests.py .        2   # two interests
    PYTHONPATH=.        python benchmarks/bench_interests.py .        1   # one interest

Eight steps of given random slates (``_common.make_slate_pool``) per repetition, three
repetitions on fresh simulators; the best repetition is the figure.
"""

import inspect
import sys
import time

sys.path.insert(0, sys.argv[1] + "/benchmarks")
from _common import make_slate_pool, make_world

from recsim_llm.simulator import Simulator

kw = ({"n_interests": int(sys.argv[2])}
      if "n_interests" in inspect.signature(make_world).parameters else {})
w = make_world(100_000, 64, **kw)
pool = make_slate_pool(100_000, 1000, 10)
best = []
for rep in range(3):
    sim = Simulator(w, rep)
    sim.reset()
    t = time.process_time()
    served = 0
    for j in range(8):
        fb = sim.step(pool[j % len(pool)])
        served += len(fb.users)
    best.append(served / (time.process_time() - t))
print(sys.argv[1], kw, "user-steps per CPU-s", [round(b) for b in best])
