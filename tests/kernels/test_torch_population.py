"""The torch population (``kernels.torch_population``) against the numpy reference, on CPU torch.

With ``draws="numpy"`` the torch path consumes the reference's own random numbers, so its
trajectory must be the reference's (same users, clicks, session and day ends; state to float32
rounding). With ``draws="torch"`` it is another sample of the same model: the 30-day test
compares the two paths' seed means of the daily metrics with a two-sample bound (3 standard
errors of the difference), so a systematic error larger than the seed-to-seed noise fails it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from recsim_llm.config import override
from recsim_llm.kernels.torch_population import (
    TorchPopulation,
    click_scores,
    resolve_device,
    scored_policy,
    stream_seed,
    value_scores,
)
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import Simulator, World
from recsim_llm.users import dynamics as dyn


def random_slates(n_users: int, n_available: int, k: int, rng: np.random.Generator
                  ) -> np.ndarray:
    keys = rng.random((n_users, n_available))
    return np.argpartition(keys, k - 1, axis=1)[:, :k].astype(np.int64)


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]


def run_pair(world: World, seed: int, device: str = "cpu"):
    """The numpy simulator and the torch population (reference draws) on the same slates."""
    ref = Simulator(world, seed)
    pop = TorchPopulation(world, seed, device=device, draws="numpy")
    ref.reset()
    pop.reset()
    rng = np.random.default_rng(seed)
    while not ref.done:
        s = random_slates(world.n_users, ref.n_available, world.cfg.slate_size, rng)
        yield ref.step(s), pop.step(torch.from_numpy(s).to(pop.device)), ref, pop


def assert_same_step(fa, fb, ref: Simulator, pop: TorchPopulation) -> None:
    served = torch.nonzero(fb.served)[:, 0].cpu().numpy()
    np.testing.assert_array_equal(served, fa.users)
    np.testing.assert_array_equal(fb.positions.cpu().numpy()[served], fa.positions)
    np.testing.assert_array_equal(fb.items.cpu().numpy()[served], fa.items)
    np.testing.assert_array_equal(fb.session_ended.cpu().numpy()[served], fa.session_ended)
    np.testing.assert_allclose(fb.satisfaction.cpu().numpy()[served], fa.satisfaction,
                               atol=1e-5)
    np.testing.assert_allclose(fb.dwell.cpu().numpy()[served], fa.dwell, atol=1e-5)
    assert (fb.day, fb.tick) == (fa.day, fa.tick)
    st = pop.state_dict()
    for name in ("interest", "fatigue", "budget", "satisfaction", "day_sat_sum"):
        np.testing.assert_allclose(st[name], getattr(ref.state, name), rtol=0, atol=2e-5,
                                   err_msg=name)
    for name in ("in_session", "misses", "requests", "churned", "days_absent",
                 "visited_today", "day_clicks", "joined"):
        np.testing.assert_array_equal(st[name], getattr(ref.state, name), err_msg=name)
    assert (pop.day, pop.done) == (ref.day, ref.done)


@pytest.mark.parametrize("device", DEVICES)
def test_trajectory_equals_the_reference_with_its_draws(small_world: World, device: str
                                                        ) -> None:
    """The whole 5-day horizon: every request, session end, day end (return, churn,
    overnight drift) as the numpy simulator has it (on CUDA too, where one is lent)."""
    steps = 0
    for fa, fb, ref, pop in run_pair(small_world, seed=3, device=device):
        assert_same_step(fa, fb, ref, pop)
        steps += 1
    assert steps > 20 and pop.done and len(pop.days) == small_world.cfg.horizon_days
    assert pop.days[0]["requests"] > 0


@pytest.mark.parametrize("dotted", [
    {"choice.model": "cascade"},
    {"dynamics.drift_by": "satisfaction", "dynamics.sessions_per_day": 3,
     "dynamics.extra_session_prob": 0.7},
    {"choice.pool_temperature": 0.05},
], ids=["cascade", "satisfaction-drift-and-extra-sessions", "sharp-pooling"])
def test_variants_equal_the_reference(make_small_config, dotted: dict) -> None:
    world = build_world(make_small_config(**{**dotted, "horizon_days": 3}), 0)
    steps = 0
    for fa, fb, ref, pop in run_pair(world, seed=1):
        assert_same_step(fa, fb, ref, pop)
        steps += 1
    assert steps > 5


def test_run_to_run_bit_identical_with_device_draws(small_world: World) -> None:
    def trace() -> list[np.ndarray]:
        pop = TorchPopulation(small_world, 5, device="cpu")
        pop.reset()
        rng = np.random.default_rng(5)
        out = []
        while not pop.done:
            s = random_slates(small_world.n_users, pop.n_available, pop.slate_size, rng)
            fb = pop.step(torch.from_numpy(s))
            out += [fb.positions.numpy(), fb.satisfaction.numpy()]
        return out + list(pop.state_dict().values())

    a, b = trace(), trace()
    assert len(a) == len(b) > 20
    for x, y in zip(a, b, strict=True):
        assert x.tobytes() == y.tobytes()


def test_device_streams_are_named_children_of_the_seed() -> None:
    assert stream_seed(0, "day0/choice") == stream_seed(0, "day0/choice")
    assert stream_seed(0, "day0/choice") != stream_seed(0, "day1/choice")
    assert stream_seed(0, "day0/choice") != stream_seed(1, "day0/choice")
    assert 0 <= stream_seed(7, "x") < 2**63


def day_metrics_numpy(world: World, seed: int) -> list[list[float]]:
    sim = Simulator(world, seed)
    rows: list[list[float]] = []

    def record(s: Simulator, day: int) -> None:
        st = s.state
        req, active = st.day_requests.sum(), st.day_requests > 0
        sat = (st.day_sat_sum[active] / st.day_requests[active]).mean()
        rows.append([st.alive.sum() / max(st.joined.sum(), 1), st.day_clicks.sum() / req,
                     sat, st.visited_today.sum() / st.joined.sum()])

    sim.on_day_end.append(record)
    sim.reset()
    rng = np.random.default_rng(seed)
    while not sim.done:
        sim.step(random_slates(world.n_users, sim.n_available, world.cfg.slate_size, rng))
    return rows


def day_metrics_torch(world: World, seed: int) -> list[list[float]]:
    pop = TorchPopulation(world, seed, device="cpu")
    pop.reset()
    rng = np.random.default_rng(seed)
    while not pop.done:
        s = random_slates(world.n_users, pop.n_available, pop.slate_size, rng)
        pop.step(torch.from_numpy(s))
    return [[d["alive"] / max(d["joined"], 1), d["ctr"], d["mean_satisfaction"],
             d["visitors"] / d["joined"]] for d in pop.days]


def test_30_day_daily_metrics_within_sampling_noise(make_small_config) -> None:
    """Random slates, 80 users, 30 days, 6 seeds per path: for retention, CTR, mean
    satisfaction and the visiting share (each averaged over the horizon), the two paths'
    seed means differ by less than 3 standard errors of the difference."""
    world = build_world(make_small_config(**{"population.n_users": 80, "horizon_days": 30}), 0)
    seeds = range(6)
    ref = np.array([np.mean(day_metrics_numpy(world, s), axis=0) for s in seeds])
    new = np.array([np.mean(day_metrics_torch(world, s), axis=0) for s in seeds])
    se = np.sqrt(ref.var(axis=0, ddof=1) / len(seeds) + new.var(axis=0, ddof=1) / len(seeds))
    gap = np.abs(new.mean(axis=0) - ref.mean(axis=0))
    names = ("retention", "ctr", "mean_satisfaction", "visiting")
    assert np.all(gap < 3 * se + 1e-12), dict(zip(names, zip(gap, se, strict=True),
                                                 strict=True))
    assert np.all(ref[:, 0] < 1.0)  # users churn: the comparison is not of constants


@pytest.mark.parametrize("device", DEVICES)
def test_oracle_scores_match_the_numpy_utility(small_world: World, device: str) -> None:
    pop = TorchPopulation(small_world, 0, device=device)
    pop.reset()
    ref = Simulator(small_world, 0)
    ref.reset()
    st, ch, dy = ref.state, ref.cfg.choice, ref.cfg.dynamics
    a, b = dyn.all_item_terms(st.interest, st.interest_logw, st.dislike, st.fatigue,
                              small_world.item_emb, ch.lam_dislike, ch.beta_fatigue,
                              ch.pool_temperature)
    click = dyn.click_utility(a, b, ref._appeal, st.hook[:, None], ch.temperature)
    value = dyn.expected_satisfaction(a, b, ref._value, dy.w_value)
    np.testing.assert_allclose(click_scores(pop).cpu().numpy(), click, atol=1e-4)
    np.testing.assert_allclose(value_scores(pop).cpu().numpy(), value, atol=1e-5)
    slates = scored_policy(click_scores, block=7)(pop).cpu().numpy()
    best = np.argsort(-click, axis=1, kind="stable")[:, : pop.slate_size]
    np.testing.assert_array_equal(np.sort(slates, axis=1), np.sort(best, axis=1))


def test_value_oracle_keeps_more_users_than_the_click_oracle(make_small_config) -> None:
    """The appeal-vs-value tension on the torch path (both oracles on the device, default
    constants): the click oracle clicks more in week one, the value oracle keeps more users."""
    world = build_world(make_small_config(**{"population.n_users": 300, "catalog.n_items": 120,
                                             "horizon_days": 40}), 0)
    out = {}
    for name, score in (("click", click_scores), ("value", value_scores)):
        days = [TorchPopulation(world, s, device="cpu").run(scored_policy(score),
                                                            validate=False) for s in range(3)]
        out[name] = (np.mean([[d["ctr"] for d in run[:7]] for run in days]),
                     np.mean([run[-1]["alive"] for run in days]))
    assert out["click"][0] > out["value"][0], out
    assert out["value"][1] > out["click"][1], out


def test_sync_every_serves_empty_requests_only(small_world: World) -> None:
    """``sync_every = 4``: the requests after the last session of a day ends serve nobody and
    change nothing; with one session a day (the default) and each day's streams seeded
    afresh, every day is the one ``sync_every = 1`` gives."""
    assert small_world.cfg.dynamics.sessions_per_day == 1
    runs = [TorchPopulation(small_world, 2, device="cpu", sync_every=s).run(
        scored_policy(value_scores), validate=False) for s in (1, 4)]
    assert len(runs[0]) == small_world.cfg.horizon_days
    assert runs[0] == runs[1]


def test_bad_input_gives_one_line_errors(small_world: World, make_small_config) -> None:
    with pytest.raises(ValueError, match="device must be one of"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no CUDA device; use device='cpu'"):
            TorchPopulation(small_world, 0, device="cuda")
        assert resolve_device("auto") == torch.device("cpu")  # the documented fallback
    with pytest.raises(ValueError, match="draws must be"):
        TorchPopulation(small_world, 0, device="cpu", draws="jax")
    with pytest.raises(ValueError, match="sync_every"):
        TorchPopulation(small_world, 0, device="cpu", sync_every=0)
    habit = replace(small_world, cfg=override(small_world.cfg, **{"dynamics.habit_gain": 1.0}))
    with pytest.raises(ValueError, match="habit formation"):
        TorchPopulation(habit, 0, device="cpu")
    supply = replace(small_world, cfg=override(small_world.cfg, **{"supply.revision_rate": 0.5}))
    with pytest.raises(ValueError, match="supply side"):
        TorchPopulation(supply, 0, device="cpu")
    pop = TorchPopulation(small_world, 0, device="cpu")
    pop.reset()
    before = pop.state_dict()
    good = torch.from_numpy(random_slates(pop.n_users, pop.n_available, pop.slate_size,
                                          np.random.default_rng(0)))
    user = int(torch.nonzero(pop.in_session)[1, 0])
    dup = good.clone()
    dup[user, 1] = dup[user, 0]
    with pytest.raises(ValueError, match=f"slate of user {user} is invalid"):
        pop.step(dup)
    out = good.clone()
    out[user, 0] = pop.n_available
    with pytest.raises(ValueError, match=f"slate of user {user} is invalid"):
        pop.step(out)
    with pytest.raises(ValueError, match="must have shape"):
        pop.step(good[:-1])
    with pytest.raises(ValueError, match="integer item ids"):
        pop.step(good.double())
    for name, arr in pop.state_dict().items():
        np.testing.assert_array_equal(arr, before[name], err_msg=name)
    assert pop.tick == 0
    pop.step(good)
    assert pop.tick == 1
    pop.run(scored_policy(value_scores))
    with pytest.raises(RuntimeError, match="horizon"):
        pop.step(good)


def test_bytes_per_user_counts_every_per_user_tensor(small_world: World) -> None:
    pop = TorchPopulation(small_world, 0, device="cpu")
    pop.reset()
    k, d = small_world.n_interests, small_world.dim
    floats = 4 * (2 * k * d + k + 1 + 2 * d)              # interests, logw, hook, dislike, fatigue
    scalars = 8 * 9 + 4                                    # int64/float64 counters, 4 bools
    recent = 8 * (small_world.cfg.catalog.exclude_recent + 1)   # the recent-click ring
    assert pop.bytes_per_user() == floats + scalars + 8 + recent   # + the arrival day


def test_throughput_benchmark_torch_impls(monkeypatch: pytest.MonkeyPatch) -> None:
    """``benchmarks/throughput.py``: the torch impls count served user-steps like the others,
    and ``--gpu`` without a CUDA device is a one-line usage error."""
    import sys
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "benchmarks"))
    for name in ("throughput", "_common"):
        sys.modules.pop(name, None)
    import throughput
    from _common import make_slate_pool, make_world

    world = make_world(200, 16, 50, 5)
    pool = make_slate_pool(200, 50, 5)
    for impl in ("torch_cpu", "torch_cpu_oracle"):
        r = throughput.time_impl(impl, world, pool, seconds=0.01, days=1)
        assert r["user_steps_per_s"] > 0 and 0 < r["in_session_fraction"] <= 1
        assert r["n_steps"] >= 1
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            throughput.parse_args(["--gpu"])


@pytest.mark.parametrize("dotted", [{}, {"catalog.consume_once": True, "catalog.n_items": 300},
                                    {"catalog.exclude_recent": 3}],
                         ids=["recent-clicks", "consume-once", "exclude-3"])
def test_device_oracles_are_the_platforms_oracles(make_small_config, dotted: dict) -> None:
    """On the reference's draws, ``scored_policy(click_scores)`` / ``(value_scores)`` give the
    run of ``oracle:click`` / ``oracle:value`` through the Platform (same exclusions), day for
    day: requests, clicks, active users, users alive and the mean satisfaction."""
    from recsim_llm.runner import run_policy

    world = build_world(make_small_config(**{**dotted, "horizon_days": 4}), 0)
    for name, score in (("oracle:click", click_scores), ("oracle:value", value_scores)):
        daily = run_policy(world, name, 1).daily
        days = TorchPopulation(world, 1, device="cpu", draws="numpy").run(scored_policy(score))
        assert [d["requests"] for d in days] == [int(r["requests"]) for r in daily], name
        assert [d["clicks"] for d in days] == [int(r["clicks"]) for r in daily], name
        assert [d["active_users"] for d in days] == [int(r["active_users"]) for r in daily]
        assert [d["alive"] / world.n_users for d in days] == pytest.approx(
            [float(r["retention"]) for r in daily])
        np.testing.assert_allclose([d["mean_satisfaction"] for d in days],
                                   [float(r["mean_satisfaction"]) for r in daily], atol=1e-6)


def test_exclusions_follow_the_clicks(make_small_config) -> None:
    """The recent-click ring holds each user's last ``exclude_recent`` clicks; on a
    consume-once catalog every click stays excluded, and no slate of the value oracle or of
    ``random_policy`` repeats a consumed item."""
    world = build_world(make_small_config(**{"catalog.exclude_recent": 2}), 0)
    pop = TorchPopulation(world, 0, device="cpu")
    pop.reset()
    clicks: dict[int, list[int]] = {}
    policy = scored_policy(click_scores)
    for _ in range(12):
        fb = pop.step(policy(pop))
        for u in torch.nonzero(fb.items >= 0)[:, 0].tolist():
            clicks.setdefault(u, []).append(int(fb.items[u]))
    mask = pop.excluded_mask()
    for u, items in clicks.items():
        assert set(torch.nonzero(mask[u])[:, 0].tolist()) == set(items[-2:])
    from recsim_llm.kernels.torch_population import random_policy

    once = build_world(make_small_config(**{"catalog.consume_once": True,
                                            "catalog.n_items": 300}), 0)
    for policy in (scored_policy(value_scores), random_policy(0)):
        pop = TorchPopulation(once, 0, device="cpu")
        pop.reset()
        seen = torch.zeros((once.n_users, once.n_items), dtype=torch.bool)
        while not pop.done:
            slates = policy(pop)
            assert not seen.gather(1, slates)[pop.in_session].any()
            fb = pop.step(slates)
            clicked = fb.items >= 0
            seen[torch.nonzero(clicked)[:, 0], fb.items[clicked]] = True
        assert torch.equal(pop.excluded_mask(), seen) and seen.sum() > 100


@pytest.mark.skipif(__import__("importlib").util.find_spec("recbole") is None,
                    reason="ML-100K comes from the recbole wheel")
def test_ml100k_history_is_excluded_from_the_first_request() -> None:
    """A MovieLens world is consume-once with a training history: the device's watched mask
    starts as the platform log's, and the device click oracle is the platform's."""
    from recsim_llm.config import ScenarioConfig
    from recsim_llm.platform import new_log
    from recsim_llm.runner import run_policy

    cfg = override(ScenarioConfig.defaults_for("ml-100k"), **{
        "encoder": "hashing:16", "population.n_users": 20, "horizon_days": 2})
    world = build_world(cfg, 0)
    pop = TorchPopulation(world, 0, device="cpu", draws="numpy")
    pop.reset()
    log = new_log(world)
    users = np.arange(world.n_users)
    expect = np.zeros((world.n_users, world.n_items), bool)
    ex = log.excluded(users)
    rows = np.broadcast_to(users[:, None], ex.shape)
    expect[rows[ex >= 0], ex[ex >= 0]] = True
    assert expect.sum() > 0
    np.testing.assert_array_equal(pop.excluded_mask().numpy(), expect)
    daily = run_policy(world, "oracle:click", 0).daily
    days = pop.run(scored_policy(click_scores))
    assert [d["clicks"] for d in days] == [int(r["clicks"]) for r in daily]


@pytest.mark.parametrize("draws", ["torch", "numpy"])
def test_resume_from_a_snapshot_is_exact(small_world: World, draws: str) -> None:
    """A snapshot taken mid-day, restored into a fresh population, ends the horizon with the
    same days and state as the run that was never interrupted; a snapshot of another seed is
    refused with the state untouched."""
    policy = scored_policy(value_scores)

    def start() -> TorchPopulation:
        pop = TorchPopulation(small_world, 4, device="cpu", draws=draws)
        pop.reset()
        return pop

    whole = start()
    while not whole.done:
        whole.step(policy(whole))
    cut = start()
    for _ in range(13):
        cut.step(policy(cut))
    snap = cut.get_state()
    assert 0 < snap["day"] < small_world.cfg.horizon_days and snap["tick"] > 0
    resumed = TorchPopulation(small_world, 4, device="cpu", draws=draws)
    resumed.set_state(snap)
    while not resumed.done:
        resumed.step(policy(resumed))
    assert resumed.days == whole.days
    for name, arr in whole.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[name], arr, err_msg=name)
    other = TorchPopulation(small_world, 5, device="cpu", draws=draws)
    other.reset()
    before = other.state_dict()
    with pytest.raises(ValueError, match="snapshot seed 4 differs"):
        other.set_state(snap)
    for name, arr in other.state_dict().items():
        np.testing.assert_array_equal(arr, before[name], err_msg=name)


def test_device_random_is_the_platforms_random_in_distribution(make_small_config) -> None:
    """``random_policy`` against ``run_policy(world, "random")``: 80 users, 30 days, 6 seeds
    per path, the horizon means of retention, CTR and mean satisfaction within 3 standard
    errors of the difference; two runs on a seed are identical, another seed differs."""
    from recsim_llm.kernels.torch_population import random_policy
    from recsim_llm.runner import run_policy

    world = build_world(make_small_config(**{"population.n_users": 80, "horizon_days": 30}), 0)
    seeds = range(6)
    keys = ("retention", "ctr", "mean_satisfaction")
    ref = np.array([[np.mean([float(r[k]) for r in run_policy(world, "random", s).daily])
                     for k in keys] for s in seeds])

    def device_run(seed: int) -> list[dict]:
        return TorchPopulation(world, seed, device="cpu").run(random_policy(seed))

    runs = [device_run(s) for s in seeds]
    new = np.array([[np.mean([d["alive"] / world.n_users for d in days]),
                     np.mean([d["ctr"] for d in days]),
                     np.mean([d["mean_satisfaction"] for d in days])] for days in runs])
    se = np.sqrt(ref.var(axis=0, ddof=1) / len(seeds) + new.var(axis=0, ddof=1) / len(seeds))
    gap = np.abs(new.mean(axis=0) - ref.mean(axis=0))
    assert np.all(gap < 3 * se + 1e-12), dict(zip(keys, zip(gap, se, strict=True), strict=True))
    assert device_run(0) == runs[0] and runs[1] != runs[0]
