"""The policy in the loop: specs, learning from its logs, the dwell target, state and
checkpoints (another model refused), and the real bundled MiniLM zero-shot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from recsim_llm.agents.base import PolicyError
from recsim_llm.agents.llm import LLMRankerConfig, LLMRankerPolicy, make_llm_policy
from recsim_llm.agents.llm.checkpoint import CheckpointMismatchError
from recsim_llm.agents.llm.policy import parse_llm_arg


def test_specs() -> None:
    assert parse_llm_arg(None) == (None, {})
    assert parse_llm_arg("3") == (3, {})
    assert parse_llm_arg("7,finetune=head,epsilon=0.2") == (7, {"finetune": "head",
                                                               "epsilon": 0.2})
    assert parse_llm_arg("target=dwell") == (None, {"target": "dwell"})
    p = make_llm_policy(None)
    assert p.cfg.retrain_every == 7 and p.cfg.finetune == "head"
    assert make_llm_policy("3").cfg.retrain_every == 3
    z = make_llm_policy("0")
    assert (z.cfg.finetune, z.cfg.user_tower, z.cfg.retrain_every) == ("none", "text", 0)
    for bad, msg in [("x", "integer number of days"), ("-1", "R >= 0"),
                     ("7,finetune", "key=value"), ("7,finetune=partial", "llm.finetune"),
                     ("7,nope=1", "unknown llm config keys")]:
        with pytest.raises(ValueError, match=msg):
            make_llm_policy(bad)


@pytest.mark.parametrize("finetune", ["head", "lora"])
def test_retraining_on_its_logs_improves_ranking(toy, tiny_cfg, finetune) -> None:
    pol = LLMRankerPolicy(tiny_cfg(finetune=finetune, exclude_recent=False, epochs=3))
    pol.bind(toy.ctx, np.random.default_rng(0))
    toy.run(pol, days=2, ticks=4)          # logs, untrained (content profile)
    before = toy.precision(pol)
    toy.run(pol, days=3, ticks=4, seed=2)  # day index restarts: retrains after its 3rd day
    assert pol.retrains >= 1
    after = toy.precision(pol)
    assert after > before, (before, after)
    c = pol.costs()
    assert c["requests"] > 0 and c["retrains"] == pol.retrains and c["cpu_s_per_retrain"] > 0


def test_dwell_target_runs_with_and_without_dwell(toy, tiny_cfg) -> None:
    for with_dwell in (True, False):
        pol = LLMRankerPolicy(tiny_cfg(target="dwell", retrain_every=2))
        pol.bind(toy.ctx, np.random.default_rng(0))
        toy.run(pol, days=2, ticks=3, with_dwell=with_dwell)
        assert pol.retrains == 1
        dw = pol.log.arrays()["dwell"]
        assert np.isfinite(dw).any() == with_dwell
        assert np.isfinite(pol.fit_history[0]["loss_last"])


def test_zero_shot_never_trains_and_serves_cold_users_at_random(toy, tiny_cfg) -> None:
    pol = LLMRankerPolicy(tiny_cfg(user_tower="text", finetune="none", retrain_every=0,
                                   epsilon=0.0))
    pol.bind(toy.ctx, np.random.default_rng(0))
    w0 = {k: v.clone() for k, v in pol.model.state_dict().items()}
    first = pol.act(toy.view(0))
    assert len({tuple(r) for r in first}) > 1  # not the same slate for every cold user
    toy.run(pol, days=2, ticks=2)
    assert pol.retrains == 0
    assert all(torch.equal(w0[k], v) for k, v in pol.model.state_dict().items())
    with pytest.raises(ValueError, match="frozen"):
        pol.retrain()


def test_state_dict_round_trip_continues_identically(toy, tiny_cfg) -> None:
    a = LLMRankerPolicy(tiny_cfg(retrain_every=2))
    a.bind(toy.ctx, np.random.default_rng(0))
    toy.run(a, days=2, ticks=2)
    state = a.state_dict()
    b = LLMRankerPolicy(tiny_cfg(retrain_every=2))
    b.bind(toy.ctx, np.random.default_rng(99))
    b.load_state_dict(state)
    assert np.array_equal(a.act(toy.view(2)), b.act(toy.view(2)))
    other = LLMRankerPolicy(tiny_cfg(retrain_every=2, tiny={"hidden_size": 16,
                                                            "intermediate_size": 32}))
    other.bind(toy.ctx, np.random.default_rng(0))
    with pytest.raises(CheckpointMismatchError, match="cannot load"):
        other.load_state_dict(state)


def test_checkpoint_holds_model_tokenizer_config(toy, tiny_cfg, tmp_path: Path) -> None:
    a = LLMRankerPolicy(tiny_cfg(retrain_every=2, finetune="lora", lora_r=2))
    a.bind(toy.ctx, np.random.default_rng(0))
    toy.run(a, days=2, ticks=2)
    out = a.save_checkpoint(tmp_path / "ckpt")
    assert {"config.json", "model.pt", "policy.npz", "tokenizer"} <= {p.name for p in
                                                                      out.iterdir()}
    b = LLMRankerPolicy.from_checkpoint(out)
    assert b.cfg == a.cfg and b.retrains == a.retrains and b.spec == a.spec
    b.bind(toy.ctx, np.random.default_rng(5))  # binding keeps what was loaded
    users = np.arange(toy.n_users)
    for p in (a, b):
        p.act(toy.view(2))
    assert np.allclose(a.cache.scores(users, toy.n_items), b.cache.scores(users, toy.n_items))
    # A ranker on another backbone refuses it, naming both models.
    other = LLMRankerPolicy(tiny_cfg(retrain_every=2, tiny={"num_hidden_layers": 1}))
    with pytest.raises(CheckpointMismatchError, match="was made by model"):
        other.load_checkpoint(out)
    # So does one with another history length (the attention tower has one slot embedding per
    # remembered event), with the one-line error rather than a tensor-size traceback.
    shorter = LLMRankerPolicy(tiny_cfg(retrain_every=2, finetune="lora", lora_r=2,
                                       history_len=a.cfg.history_len - 1))
    with pytest.raises(CheckpointMismatchError, match="history="):
        shorter.load_checkpoint(out)
    # A folder that is no ranker checkpoint (e.g. a plain HF model) is refused too.
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(CheckpointMismatchError, match="not an LLM-ranker checkpoint"):
        LLMRankerPolicy.from_checkpoint(tmp_path / "hf")
    with pytest.raises(CheckpointMismatchError, match=r"no config\.json"):
        LLMRankerPolicy.from_checkpoint(tmp_path / "missing")


def test_bind_to_another_population_is_refused(toy, tiny_cfg) -> None:
    pol = LLMRankerPolicy(tiny_cfg())
    pol.bind(toy.ctx, np.random.default_rng(0))
    ctx = type(toy.ctx)(n_users=toy.n_users + 1, slate_size=toy.k, catalog=toy.catalog)
    with pytest.raises(PolicyError, match="users"):
        pol.bind(ctx, np.random.default_rng(0))


def test_real_minilm_zero_shot_matches_history_text(toy) -> None:
    """The bundled all-MiniLM-L6-v2: after clicking jazz items, jazz items rank first."""
    pol = make_llm_policy("0")
    pol.bind(toy.ctx, np.random.default_rng(0))
    assert pol.identity.startswith("transformer:")  # pretrained, not a tiny random BERT
    users = np.arange(4)                      # user topics 0..3
    # each user clicks one item of their own topic
    items = np.array([np.flatnonzero(toy.item_topic == t)[0] for t in range(4)])
    slates = np.array([[i, *[j for j in range(toy.n_items) if j != i][: toy.k - 1]]
                       for i in items])
    fb = type(toy.catalog)(day=0, users=users, slates=slates,
                           positions=np.zeros(4, np.int64), items=items)
    pol.observe(fb)
    s = pol.act(toy.view(0, users=users))
    assert (toy.item_topic[s] == np.arange(4)[:, None]).mean() >= 0.8
    assert LLMRankerConfig().model_path is None  # the default is the bundled model


def test_in_the_loop_with_the_runner(small_world) -> None:
    """Registered spec through the real runner: serves, logs, retrains every 2 days; a frozen
    run (train then freeze) stops retraining after the training phase."""
    from recsim_llm.agents.registry import make_policy
    from recsim_llm.runner import run_policy

    pol = make_policy("llm:2,tiny={},max_train_samples=256")
    assert isinstance(pol, LLMRankerPolicy) and pol.spec.startswith("llm:2")
    res = run_policy(small_world, pol, 0)
    assert len(res.daily) == small_world.cfg.horizon_days
    assert pol.retrains == small_world.cfg.horizon_days // 2
    assert pol.costs()["requests"] == sum(r["requests"] for r in res.daily)
    frozen = make_policy("llm:1,tiny={},max_train_samples=256")
    run_policy(small_world, frozen, 0, train_days=2, freeze=True)
    assert frozen.retrains == 2


def test_item_prior_is_the_shrunk_log_odds_of_logged_clicks(toy, tiny_cfg) -> None:
    """``o_i`` is 0 for an item never shown, grows with an item's logged click rate, is shrunk
    toward the overall rate by ``item_prior`` pseudo-impressions, and enters the served score
    with the learned weight; the click counts travel with the policy's state."""
    pol = LLMRankerPolicy(tiny_cfg(item_prior=5.0, retrain_every=0, epsilon=0.0))
    pol.bind(toy.ctx, np.random.default_rng(0))
    assert pol.cfg.uses_prior and pol.model.prior_weight is not None
    users = np.array([0, 1, 2, 3])
    slates = np.tile(np.array([0, 1, 2, 3, 4]), (4, 1))
    fb = toy.feedback(0, users, slates, np.random.default_rng(0))
    fb.positions = np.array([0, 0, 0, 1])  # item 0 clicked 3 times, item 1 once, 2-4 never
    pol.observe(fb)
    assert pol.item_impressions[:6].tolist() == [4, 4, 4, 4, 4, 0]
    assert pol.item_clicks[:6].tolist() == [3, 1, 0, 0, 0, 0]
    o = pol.item_offsets()
    p = (4 + 1) / (20 + 2)
    rate0 = (3 + 5 * p) / (4 + 5)
    assert o[0] == pytest.approx(np.log(rate0 / (1 - rate0)) - np.log(p / (1 - p)), rel=1e-5)
    assert o[0] > o[1] > 0 > o[2] == o[3] == o[4]
    assert o[5] == pytest.approx(0.0, abs=1e-6) and (o[5:] == o[5]).all()  # never shown
    pol.act(toy.view(1, users))
    with torch.no_grad():
        pol.model.prior_weight.fill_(2.0)
    base = pol.cache.scores(users, toy.n_items) - pol.cache.prior_offsets(toy.n_items)
    assert np.allclose(pol.cache.scores(users, toy.n_items) - base, 2.0 * o[: toy.n_items])
    # state: the counts round-trip; a state without them (older format) is refused
    b = LLMRankerPolicy(tiny_cfg(item_prior=5.0, retrain_every=0, epsilon=0.0))
    b.bind(toy.ctx, np.random.default_rng(1))
    state = pol.params()
    b.load_params(state)
    assert np.array_equal(b.item_clicks, pol.item_clicks)
    del state["arrays"]["item_clicks"]
    with pytest.raises(PolicyError, match="item click counts"):
        b.load_params(state)


def test_item_prior_is_off_for_the_dwell_target_and_zero_shot(tiny_cfg) -> None:
    assert not tiny_cfg(target="dwell").uses_prior
    assert not tiny_cfg(finetune="none", user_tower="text").uses_prior
    assert not tiny_cfg(item_prior=0.0).uses_prior
    assert tiny_cfg().uses_prior
    # a checkpoint of a ranker without the prior is another architecture (refused on load)
    from recsim_llm.agents.llm.model import backbone_identity

    assert backbone_identity(tiny_cfg(item_prior=0.0)) != backbone_identity(tiny_cfg())
    with pytest.raises(ValueError, match="item_prior"):
        tiny_cfg(item_prior=-1.0)


def test_item_prior_helps_when_appeal_is_not_in_the_text(tiny_cfg) -> None:
    """Items whose text says nothing of their pull: a few of them are clicked by everyone. The
    prior, learned online from the counts, ranks them first; text alone cannot."""
    from tests.agents.llm.conftest import Toy

    toy = Toy()
    hot = np.array([3, 17, 26])
    rng = np.random.default_rng(0)
    hits = {}
    for prior in (5.0, 0.0):
        pol = LLMRankerPolicy(tiny_cfg(item_prior=prior, retrain_every=0, epsilon=0.3,
                                       exclude_recent=False))
        pol.bind(toy.ctx, np.random.default_rng(0))
        for day in range(4):
            view = toy.view(day)
            slates = pol.act(view)
            is_hot = np.isin(slates, hot)
            pos = np.where(is_hot.any(1), is_hot.argmax(1), -1)
            fb = toy.feedback(day, view.users, slates, rng)
            fb.positions = pos
            pol.observe(fb)
        top = pol.act(toy.view(4))
        hits[prior] = float(np.isin(top[:, :3], hot).mean())
        if prior:
            assert set(np.argsort(-pol.item_offsets())[:3]) == set(hot)
    assert hits[5.0] > hits[0.0] + 0.1, hits
