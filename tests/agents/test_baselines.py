"""Baseline policies: valid slates, the ranking each promises, privilege, save/load."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from recsim_llm.agents.base import BasePolicy, Policy, PolicyError, topk_excluding
from recsim_llm.agents.baselines import GreedyPolicy, MMRPolicy, OraclePolicy, PopularPolicy
from recsim_llm.agents.registry import load_policy, make_policy, policy_names
from recsim_llm.platform import Platform, PlatformLog, PlatformView, PolicyContext
from recsim_llm.scenarios import build_world
from recsim_llm.simulator import Simulator, World, validate_slates

BASELINES = ["random", "popular", "greedy", "mmr", "oracle", "mf"]
SPECS = [*BASELINES, "mmr:0.2", "oracle:value"]
"""every baseline family, plus MMR with an argument"""


def _reset(policy: BasePolicy, world: World, seed: int = 0) -> BasePolicy:
    policy.bind(PolicyContext.of(world), np.random.default_rng(seed))
    return policy


def _obs(world: World, history: PlatformLog, users, n_available: int | None = None,
         sim: Simulator | None = None) -> PlatformView:
    return PlatformView(day=0, request=0, users=np.asarray(users, np.int64),
                        n_available=world.n_items if n_available is None else n_available,
                        log=history.readonly(), context=PolicyContext.of(world), hidden=sim)


def _warm_history(world: World, seed: int = 0, clicks_per_user: int = 3) -> PlatformLog:
    """Each user has clicked a few random items."""
    h = PlatformLog(world.n_users, world.item_emb)
    rng = np.random.default_rng(seed)
    for u in range(world.n_users):
        for i in rng.choice(world.n_items, clicks_per_user, replace=False):
            h.clicks[u] += 1
            h.requests[u] += 1
            h.clicked_sum[u] += world.item_emb[i]
            h.last_clicked[u] = i
            h.recent[u, h.recent_ptr[u] % h.recent.shape[1]] = i
            h.recent_ptr[u] += 1
            h.item_clicks[i] += 1
    return h


def _ild(world: World, slates: np.ndarray) -> np.ndarray:
    """Intra-list diversity per slate: 1 - mean cosine over distinct pairs, [m]."""
    e = world.item_emb[slates]
    g = np.einsum("mkd,mjd->mkj", e, e)
    k = slates.shape[1]
    return 1.0 - (g.sum(axis=(1, 2)) - np.trace(g, axis1=1, axis2=2)) / (k * (k - 1))


@pytest.fixture(scope="module")
def arrivals_world(make_small_config) -> World:
    cfg = make_small_config(**{"catalog.new_items_per_day": 5, "horizon_days": 3})
    return build_world(cfg, 0)


@pytest.mark.parametrize("spec", SPECS)
def test_policies_return_valid_slates_in_simulation(arrivals_world: World, spec: str) -> None:
    w = arrivals_world
    policy = make_policy(spec)
    assert isinstance(policy, Policy)
    plat = Platform(w, 0)
    _reset(policy, w)
    plat.reset()
    steps = 0
    while not plat.done:
        view = plat.view(privileged=policy.privileged)
        assert (view.hidden is not None) == spec.startswith("oracle")
        slates = policy.act(view)
        assert slates.shape == (len(view.users), w.cfg.slate_size)  # served rows only
        assert np.all((slates >= 0) & (slates < view.n_available))  # only arrived items
        assert np.all(np.diff(np.sort(slates, axis=1), axis=1) > 0)  # distinct
        validate_slates(slates, len(view.users), w.cfg.slate_size, view.n_available)
        policy.observe(plat.serve(slates)[1])
        steps += 1
    assert steps > 0 and plat.sim.n_available > w.cfg.catalog.n_items  # items arrived


def test_greedy_ranks_by_click_profile(small_world: World) -> None:
    w = small_world
    h = _warm_history(w)
    pol = _reset(GreedyPolicy(), w)
    users = np.arange(10)
    slates = pol.act(_obs(w, h, users))[users]
    rel = h.profile(users) @ w.item_emb.T
    for r, u in enumerate(users):
        recent = set(h.recent[u][h.recent[u] >= 0])
        assert not recent & set(slates[r])  # recent clicks are not re-recommended
        order = [i for i in np.argsort(-rel[r], kind="stable") if i not in recent]
        np.testing.assert_allclose(rel[r, slates[r]], rel[r, order[: w.cfg.slate_size]],
                                   atol=1e-6)
        assert np.all(np.diff(rel[r, slates[r]]) <= 1e-6)  # best first


def test_greedy_puts_items_near_the_profile_first(small_world: World) -> None:
    w = small_world
    h = PlatformLog(w.n_users, w.item_emb)
    target = 7
    h.clicks[0], h.clicked_sum[0] = 1, w.item_emb[target]
    pol = _reset(GreedyPolicy(), w)
    slate = pol.act(_obs(w, h, [0]))[0]
    nearest = np.argsort(-(w.item_emb @ w.item_emb[target]))[: w.cfg.slate_size]
    assert slate[0] == target  # the item itself is nearest (not excluded: not in `recent`)
    assert set(slate) == set(nearest)


def test_cold_users_get_random_items(small_world: World) -> None:
    w = small_world
    h = PlatformLog(w.n_users, w.item_emb)
    a = _reset(GreedyPolicy(), w, 0).act(_obs(w, h, np.arange(w.n_users)))
    b = _reset(GreedyPolicy(), w, 1).act(_obs(w, h, np.arange(w.n_users)))
    assert not np.array_equal(a, b)
    assert len(np.unique(a)) > w.cfg.slate_size  # not the same slate for everyone


def test_popular_ranks_by_observed_clicks(small_world: World) -> None:
    w = small_world
    h = PlatformLog(w.n_users, w.item_emb)
    rng = np.random.default_rng(0)
    h.item_clicks[:] = rng.permutation(w.n_items) * 3  # distinct counts, gaps > tie-break noise
    top = np.argsort(-h.item_clicks)
    k = w.cfg.slate_size
    pol = _reset(PopularPolicy(), w)
    slates = pol.act(_obs(w, h, [0, 1]))
    np.testing.assert_array_equal(slates[0], top[:k])  # most clicked first, in order
    # a user who recently clicked the top item does not get it again
    h.recent[1, 0] = top[0]
    slates = pol.act(_obs(w, h, [0, 1]))
    np.testing.assert_array_equal(slates[1], top[1: k + 1])
    np.testing.assert_array_equal(slates[0], top[:k])
    # only available items are ranked
    slates = pol.act(_obs(w, h, [0], n_available=20))
    want = [i for i in top if i < 20][:k]
    np.testing.assert_array_equal(slates[0], want)


def test_popular_ignores_hidden_quality(small_world: World) -> None:
    w = small_world
    h = PlatformLog(w.n_users, w.item_emb)
    h.item_clicks[:5] = 100
    slates = _reset(PopularPolicy(), w).act(_obs(w, h, [0]))
    assert set(slates[0][:5]) == {0, 1, 2, 3, 4}


def test_mmr_alpha_one_equals_greedy(small_world: World) -> None:
    w = small_world
    h = _warm_history(w)
    users = np.arange(w.n_users)
    g = _reset(GreedyPolicy(), w).act(_obs(w, h, users))
    m = _reset(MMRPolicy(alpha=1.0), w).act(_obs(w, h, users))
    for r in users:
        assert set(g[r]) == set(m[r])


@pytest.mark.parametrize("spec", ["popular", "greedy", "mmr", "mmr:0.2", "mmr:0", "oracle"])
@pytest.mark.parametrize("n_available", [60, 30])
def test_recent_clicks_not_re_recommended(small_world: World, spec: str,
                                          n_available: int) -> None:
    # every candidate set here covers all available items (MMR's default is 100 candidates)
    w = small_world
    h = _warm_history(w, clicks_per_user=5)
    sim = Simulator(w, 0)
    sim.reset()
    users = np.arange(w.n_users)
    h.recent[h.recent >= n_available] = -1
    slates = _reset(make_policy(spec), w).act(_obs(w, h, users, n_available, sim=sim))
    for u in users:
        recent = set(h.recent[u][h.recent[u] >= 0])
        assert not recent & set(slates[u]), (u, recent, slates[u])


def test_recent_clicks_fill_in_when_nothing_else_is_left(small_world: World) -> None:
    w = small_world
    h = PlatformLog(w.n_users, w.item_emb)
    k = w.cfg.slate_size
    h.clicks[0], h.clicked_sum[0] = 3, w.item_emb[0]
    h.recent[0, :3] = [0, 1, 2]  # 3 of the k + 1 available items were just clicked
    for spec in ("greedy", "mmr"):
        slate = _reset(make_policy(spec), w).act(_obs(w, h, [0], n_available=k + 1))[0]
        assert len(set(slate)) == k and set(range(3, k + 1)) <= set(slate), spec


def test_mmr_lower_alpha_more_diverse(small_world: World) -> None:
    w = small_world
    h = _warm_history(w)
    users = np.arange(w.n_users)
    ild = {a: _ild(w, _reset(MMRPolicy(alpha=a), w).act(_obs(w, h, users))).mean()
           for a in (1.0, 0.7, 0.3)}
    assert ild[0.3] > ild[0.7] > ild[1.0]


def test_mmr_bad_alpha() -> None:
    with pytest.raises(ValueError, match="alpha"):
        MMRPolicy(alpha=1.5)
    with pytest.raises(ValueError, match="mmr:x"):
        make_policy("mmr:x")
    with pytest.raises(ValueError, match="alpha"):
        make_policy("mmr:-0.1")
    assert make_policy("mmr:0.3").alpha == 0.3


def test_only_the_oracle_is_privileged() -> None:
    privileged = [name for name in BASELINES if make_policy(name).privileged]
    assert privileged == ["oracle"]


def test_oracle_needs_the_simulator(small_world: World) -> None:
    w = small_world
    h = PlatformLog(w.n_users, w.item_emb)
    pol = _reset(OraclePolicy(), w)
    with pytest.raises(RuntimeError, match="simulator"):
        pol.act(_obs(w, h, [0, 1]))
    sim = Simulator(w, 0)
    sim.reset()
    slates = pol.act(_obs(w, h, [0, 1], sim=sim))
    # the click oracle ranks by the true current click utility (no position term), written out
    st, ch = sim.state, w.cfg.choice
    tau = ch.pool_temperature
    cos = st.interest[0] @ w.item_emb.T                                     # [K, n_items]
    pooled = tau * np.log((np.exp(st.interest_logw[0])[:, None] * np.exp(cos / tau)).sum(0))
    taste = pooled - ch.lam_dislike * np.maximum(st.dislike[0] @ w.item_emb.T, 0)
    v = ch.temperature * taste + st.hook[0] * w.catalog.appeal
    np.testing.assert_array_equal(slates[0], np.argsort(-v)[: w.cfg.slate_size])
    # the value oracle by the expected satisfaction: appeal plays no part
    value = _reset(make_policy("oracle:value"), w).act(_obs(w, h, [0, 1], sim=sim))
    y = taste + w.cfg.dynamics.w_value * w.catalog.value
    np.testing.assert_array_equal(value[0], np.argsort(-y)[: w.cfg.slate_size])
    assert make_policy("oracle").name == "oracle:click"
    with pytest.raises(ValueError, match="oracle target"):
        make_policy("oracle:fun")


@pytest.mark.parametrize("spec", [s for s in SPECS if not s.startswith("oracle")])
def test_unprivileged_policies_never_read_appeal_or_value(small_world: World, spec: str) -> None:
    w = small_world
    h = _warm_history(w)
    rng = np.random.default_rng(9)
    other = dataclasses.replace(w, catalog=dataclasses.replace(
        w.catalog, appeal=rng.random(w.n_items), value=rng.uniform(-1, 1, w.n_items)))
    users = np.arange(w.n_users)
    a = _reset(make_policy(spec), w).act(_obs(w, h, users))
    b = _reset(make_policy(spec), other).act(_obs(other, h, users))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("spec", SPECS)
def test_state_dict_round_trip(small_world: World, spec: str) -> None:
    w = small_world
    h = PlatformLog(w.n_users, w.item_emb)  # cold users: every policy draws randomness
    sim = Simulator(w, 0)
    sim.reset()
    users = np.arange(w.n_users)
    pol = _reset(make_policy(spec), w, 3)
    pol.act(_obs(w, h, users, sim=sim))
    state = pol.state_dict()
    want = pol.act(_obs(w, h, users, sim=sim))
    fresh = _reset(make_policy(spec), w, 99)
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh.act(_obs(w, h, users, sim=sim)), want)


@pytest.mark.parametrize("spec", SPECS)
def test_save_load_keeps_spec_and_params(small_world: World, tmp_path: Path, spec: str
                                         ) -> None:
    pol = _reset(make_policy(spec), small_world, 3)
    path = tmp_path / "policy.pkl"
    pol.save(path)
    loaded = load_policy(path)
    assert type(loaded) is type(pol) and loaded.spec.startswith(spec)
    if spec.startswith("mmr"):
        assert loaded.alpha == pol.alpha
    for key, value in pol.params().items():
        np.testing.assert_array_equal(loaded.params()[key], value)
    # binding the loaded policy to a run keeps its parameters (no re-initialisation)
    _reset(loaded, small_world, 7)
    for key, value in pol.params().items():
        np.testing.assert_array_equal(loaded.params()[key], value)


def test_load_rejects_another_policy(small_world: World, tmp_path: Path) -> None:
    pol = _reset(make_policy("greedy"), small_world)
    other = _reset(make_policy("random"), small_world)
    with pytest.raises(PolicyError, match="greedy"):
        other.load_state_dict(pol.state_dict())
    with pytest.raises(PolicyError, match="not a recsim_llm saved policy"):
        (tmp_path / "x.pkl").write_bytes(b"\x80\x04N.")  # a pickled None
        load_policy(tmp_path / "x.pkl")
    with pytest.raises(PolicyError, match="not a readable saved policy"):
        (tmp_path / "y.pkl").write_bytes(b"garbage")
        load_policy(tmp_path / "y.pkl")
    with pytest.raises(PolicyError, match="no saved policy"):
        load_policy(tmp_path / "missing.pkl")


def test_unbound_policy_says_so(small_world: World) -> None:
    h = PlatformLog(small_world.n_users, small_world.item_emb)
    with pytest.raises(PolicyError, match="bind"):
        make_policy("greedy").act(_obs(small_world, h, [0]))


def test_make_policy_unknown_lists_valid() -> None:
    with pytest.raises(ValueError, match="nope") as err:
        make_policy("nope")
    for name in policy_names():
        assert name in str(err.value)
    with pytest.raises(ValueError, match="takes no argument"):
        make_policy("greedy:0.3")
    assert set(BASELINES) <= set(policy_names())


def test_topk_excluding() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [1.0, 0.0, 0.2, 0.3]])
    np.testing.assert_array_equal(topk_excluding(scores, 2), [[1, 3], [0, 3]])
    excl = np.array([[1, -1], [0, 9]])  # -1 and out-of-range ids are ignored
    np.testing.assert_array_equal(topk_excluding(scores, 2, excl), [[3, 2], [3, 2]])
    # k >= number of items: everything, best first
    np.testing.assert_array_equal(topk_excluding(scores, 4)[0], [1, 3, 2, 0])
    assert scores[0, 1] == 0.9  # input not modified


def test_topk_excluding_rejects_nan() -> None:
    scores = np.array([[0.1, 0.2], [0.3, np.nan]])
    with pytest.raises(ValueError, match="NaN score for user row 1, item 1"):
        topk_excluding(scores, 1)


@pytest.mark.parametrize("target", ["click", "value"])
@pytest.mark.parametrize("block_floats", [None, 300])
def test_oracle_pruned_slates_equal_the_full_ranking(small_world: World, target: str,
                                                     block_floats: int | None,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # The oracle scores exactly only the items whose bounds can reach the top k; its slates
    # must be those of scoring every item (rank_full), request after request, also for users
    # with padded interests (weight -inf) and in blocks of a few users.
    import recsim_llm.agents.baselines as b

    if block_floats is not None:
        monkeypatch.setattr(b, "ORACLE_BLOCK_FLOATS", block_floats)
    w = small_world
    plat = Platform(w, 0)
    pol = _reset(OraclePolicy(target), w)
    plat.reset()
    st = plat.sim.state
    logw = st.interest_logw.copy()
    assert logw.shape[1] > 1 and w.n_items > 4 * w.cfg.slate_size  # the pruned path runs
    logw[::3, 1:], logw[::3, 0] = -np.inf, 0.0      # every third user: one interest, padded
    st.interest_logw = logw
    requests = 0
    while not plat.done and requests < 25:
        view = plat.view(privileged=True)
        fast = pol.act(view)
        np.testing.assert_array_equal(fast, pol.rank_full(plat.sim, view, view.users))
        pol.observe(plat.serve(fast)[1])
        requests += 1
    assert requests == 25
