"""Stable-Baselines3 agents: training on our environments, and replay as policies.

Training (:func:`train`, or ``recsim-llm train``) builds the single-user env, or the population
through :class:`~recsim_llm.envs.sb3.PopulationVecEnv` (one SB3 step = one request for every
user), trains one of :data:`ALGORITHMS` with the objective of a
:class:`~recsim_llm.envs.rewards.RewardConfig`, logs retention, CTR and topic entropy to
TensorBoard (:class:`RecsimCallback`), and writes ``OUT/model.zip``, ``OUT/agent.json`` (what
replay needs) and ``OUT/train.json`` (the whole run configuration).

Replay: ``sb3:PATH/model.zip`` builds an :class:`SB3Policy` that turns each view into the
environment's observation (the same pure function,
:func:`recsim_llm.envs.observation.observe`), asks the model for a deterministic action per
served user in one batch, and decodes it with the same action mode. A model trained for another
observation size, encoder, catalog or scenario is refused with the reason.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recsim_llm.agents.base import BasePolicy, IntArray, PolicyError
from recsim_llm.agents.registry import register_policy
from recsim_llm.config import ConfigError, _check
from recsim_llm.envs.actions import ACTION_MODES, ActionMode, make_action_mode
from recsim_llm.envs.observation import observation_size, observe
from recsim_llm.envs.rewards import RewardConfig, reward_config
from recsim_llm.platform import LoggedFeedback, PlatformView, PolicyContext

ALGORITHMS = ("ppo", "a2c", "dqn", "sac", "td3")
AGENT_FILE = "agent.json"
TRAIN_FILE = "train.json"
ALGO_MODES: dict[str, tuple[str, ...]] = {
    "ppo": ("strategy", "scores", "query"), "a2c": ("strategy", "scores", "query"),
    "dqn": ("strategy",), "sac": ("query", "scores"), "td3": ("query", "scores")}
"""action modes each algorithm can take (the first is its default): DQN needs a ``Discrete``
space (``strategy``), SAC and TD3 a ``Box`` (``query``, ``scores``); ``slate`` is for none (SB3
samples the slots of a ``MultiDiscrete`` independently and repeats items)"""


def algorithm_class(name: str) -> Any:
    """The SB3 class of an algorithm name (``ppo``, ``a2c``, ``dqn``, ``sac``, ``td3``)."""
    import stable_baselines3 as sb3

    key = str(name).lower()
    if key not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; valid algorithms: {list(ALGORITHMS)}")
    return getattr(sb3, key.upper())


def check_algorithm(algo: str, action_mode: str | None) -> tuple[str, str]:
    """``(algorithm, action mode)`` normalised, the mode defaulting to the algorithm's first.

    Raises:
        ValueError: unknown algorithm or mode, or a mode the algorithm cannot take.
    """
    key = str(algo).lower()
    if key not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algo!r}; valid algorithms: {list(ALGORITHMS)}")
    mode = ALGO_MODES[key][0] if action_mode is None else action_mode
    if mode not in ACTION_MODES:
        raise ValueError(f"unknown action mode {mode!r}; valid modes: {list(ACTION_MODES)}")
    if mode not in ALGO_MODES[key]:
        space = "Discrete" if mode == "strategy" else ("MultiDiscrete" if mode == "slate"
                                                       else "Box")
        raise ValueError(f"{key.upper()} cannot act in the {mode!r} mode (a {space} action "
                         f"space); modes for {key}: {list(ALGO_MODES[key])}")
    return key, mode


# --------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (saved as ``train.json``; validated on build)."""

    algo: str = "ppo"
    action_mode: str | None = None
    """``strategy``, ``scores`` or ``query``; None = the algorithm's default (ALGO_MODES)"""
    scenario: str = "synthetic"
    timesteps: int = 10_000
    """SB3 transitions (population: users x steps)"""
    population: int | None = None
    """None: the single-user env (a user drawn per episode); N: N users per SB3 step through
    the population adapter"""
    seed: int = 0
    """seed of SB3 (weights, sampling) and of the environment's simulation seeds"""
    world_seed: int = 0
    """seed of the catalog and personas (keep it equal to the runner's to replay on them)"""
    horizon_days: int | None = None
    """episode horizon in days; None = the scenario's"""
    encoder: str | None = None
    """encoder spec (``minilm``, ``hashing:64``, a folder); None = the scenario's"""
    reward: RewardConfig = field(default_factory=RewardConfig)
    config: Mapping[str, Any] = field(default_factory=dict)
    """nested ScenarioConfig overrides, e.g. ``{"catalog": {"n_items": 200}}``"""
    strategies: tuple[str, ...] | None = None
    query_dim: int | None = None
    hparams: Mapping[str, Any] = field(default_factory=dict)
    """keyword arguments of the SB3 algorithm, over :func:`default_hparams`"""

    def __post_init__(self) -> None:
        from recsim_llm.scenarios import scenario_names

        try:
            algo, mode = check_algorithm(self.algo, self.action_mode)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        object.__setattr__(self, "algo", algo)
        object.__setattr__(self, "action_mode", mode)
        object.__setattr__(self, "reward", reward_config(self.reward))
        if self.strategies is not None:
            object.__setattr__(self, "strategies", tuple(self.strategies))
        _check(self.scenario in scenario_names(), "TrainConfig.scenario",
               f"must be one of {scenario_names()}", self.scenario)
        for name, low in (("timesteps", 1), ("seed", 0), ("world_seed", 0)):
            v = getattr(self, name)
            _check(isinstance(v, int) and not isinstance(v, bool) and v >= low,
                   f"TrainConfig.{name}", f"must be an integer >= {low}", v)
        for name, low in (("population", 2), ("horizon_days", 1)):
            v = getattr(self, name)
            _check(v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= low),
                   f"TrainConfig.{name}", f"must be None or an integer >= {low}", v)
        _check(isinstance(self.hparams, Mapping), "TrainConfig.hparams", "must be a mapping",
               self.hparams)
        _check(isinstance(self.config, Mapping), "TrainConfig.config", "must be a mapping",
               self.config)
        if "gamma" in self.hparams:
            raise ConfigError("TrainConfig.hparams: set the discount with reward.gamma, "
                              "not hparams['gamma']")

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["reward"] = self.reward.to_dict()
        out["config"] = dict(self.config)
        out["hparams"] = dict(self.hparams)
        out["strategies"] = None if self.strategies is None else list(self.strategies)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown TrainConfig key(s) {sorted(unknown)}; valid: "
                              f"{sorted(known)}")
        return cls(**dict(data))


def default_hparams(algo: str, n_envs: int) -> dict[str, Any]:
    """SB3 keyword arguments sized to ``n_envs`` slots stepped together.

    On-policy rollouts hold about 2048 transitions whatever the number of slots (a population
    of 1000 users gives 16 steps per rollout); off-policy learners keep a 100k replay buffer
    (SB3's 1M default is 2 GB of observations) and take one gradient step per 256 new
    transitions.
    """
    if algo == "ppo":
        n_steps = max(16, 2048 // n_envs)
        return {"n_steps": n_steps, "batch_size": max(64, n_steps * n_envs // 16)}
    if algo == "a2c":
        return {"n_steps": 5}
    off: dict[str, Any] = {"buffer_size": 100_000, "learning_starts": 1_000, "batch_size": 256,
                           "train_freq": 1, "gradient_steps": max(1, n_envs // 256)}
    if algo == "dqn":
        off.update(exploration_fraction=0.2, target_update_interval=max(1, 10_000 // n_envs))
    return off


# --------------------------------------------------------------------------- environments
def _inner_env(env: Any) -> Any:
    """The SingleUserEnv or PopulationEnv behind SB3/Gymnasium wrappers."""
    from recsim_llm.envs.sb3 import PopulationVecEnv

    e = env
    for _ in range(16):
        if isinstance(e, PopulationVecEnv):
            return e.env
        if hasattr(e, "venv"):                      # VecMonitor and other VecEnv wrappers
            e = e.venv
        elif hasattr(e, "envs"):                    # DummyVecEnv of single-user envs
            e = e.envs[0]
        elif hasattr(e, "mode") and hasattr(e, "world"):
            return e
        elif hasattr(e, "unwrapped") and e.unwrapped is not e:
            e = e.unwrapped
        else:
            break
    if hasattr(e, "mode") and hasattr(e, "world"):
        return e
    raise TypeError(f"not one of recsim_llm's environments: {type(env).__name__}")


def find_population_adapter(env: Any) -> Any:
    """The :class:`PopulationVecEnv` inside SB3 wrappers, or None (single-user envs)."""
    from recsim_llm.envs.sb3 import PopulationVecEnv

    e = env
    while e is not None:
        if isinstance(e, PopulationVecEnv):
            return e
        e = getattr(e, "venv", None)
    return None


def make_train_env(cfg: TrainConfig) -> Any:
    """The SB3 ``VecEnv`` of a training run: ``VecMonitor(PopulationVecEnv)`` for a
    population, else ``DummyVecEnv([Monitor(SingleUserEnv)])``."""
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    from recsim_llm.envs.population import PopulationEnv
    from recsim_llm.envs.sb3 import PopulationVecEnv
    from recsim_llm.envs.single_user import SingleUserEnv

    kw: dict[str, Any] = {"scenario": cfg.scenario, "config": dict(cfg.config) or None,
                          "encoder": cfg.encoder, "world_seed": cfg.world_seed,
                          "reward": cfg.reward, "action_mode": cfg.action_mode,
                          "strategies": cfg.strategies, "query_dim": cfg.query_dim,
                          "horizon_days": cfg.horizon_days}
    if cfg.population is not None:
        return VecMonitor(PopulationVecEnv(PopulationEnv(num_envs=cfg.population, **kw)))
    env = SingleUserEnv(**kw)
    return DummyVecEnv([lambda: Monitor(env)])


# --------------------------------------------------------------------------- callbacks
def _callback_base() -> type:
    from stable_baselines3.common.callbacks import BaseCallback

    return BaseCallback


class RecsimCallback(_callback_base()):  # type: ignore[misc]
    """Logs what the platform cares about, next to SB3's losses (TensorBoard scalars):

    * ``recsim/retention`` — population: share of the current run's users who have not churned
      (a respawned user counts as churned, as in the runner); single-user env: share of the
      episodes ended since the last record that reached the horizon;
    * ``recsim/episode_days`` — mean days from the start to the end of the episodes that
      ended (a churned user's absent days included);
    * ``recsim/ctr`` — clicks per served request since the last record;
    * ``recsim/topic_entropy`` — mean over users of the entropy (bits) of the topics of the items
      shown to them (their current episode), as the runner's exposure topic entropy.

    Recorded at every rollout end (on-policy) or every ``every`` calls (off-policy), and
    written at the end of training.
    """

    def __init__(self, every: int = 100) -> None:
        super().__init__()
        self.every = every
        self.last: dict[str, float] = {}

    def _on_training_start(self) -> None:
        inner = _inner_env(self.training_env)
        self.topics = np.asarray(inner.world.catalog.topics, np.int64)
        self.n_topics = int(inner.world.catalog.n_topics)
        self.adapter = find_population_adapter(self.training_env)
        n = self.training_env.num_envs
        self.counts = np.zeros((n, self.n_topics), np.int64)
        self.start_day = np.zeros(n, np.int64)
        self.ever_churned = np.zeros(n, bool)
        self._entropies: list[float] = []
        self._reset_window()

    def _reset_window(self) -> None:
        self.ended_days: list[float] = []
        self.ended_horizon = 0
        self.ended_churn = 0
        self.clicks = 0
        self.served = 0

    def _on_step(self) -> bool:
        infos, dones = self.locals["infos"], np.asarray(self.locals["dones"])
        if self.adapter is not None:
            logged = self.adapter.env.last_logged
            if logged is not None and len(logged.users):
                rows = np.repeat(logged.users, logged.slates.shape[1])
                np.add.at(self.counts, (rows, self.topics[logged.slates.ravel()]), 1)
                self.clicks += int(logged.clicked.sum())
                self.served += len(logged.users)
        else:
            for i, info in enumerate(infos):  # one entry per DummyVecEnv slot (a handful)
                if "slate" in info:
                    np.add.at(self.counts[i], self.topics[info["slate"]], 1)
                    self.clicks += int(info.get("clicked_item", -1) >= 0)
                    self.served += 1
        ended = np.flatnonzero(dones)
        if len(ended):
            horizon = np.array([bool(infos[i].get("TimeLimit.truncated", False))
                                for i in ended])
            days = np.array([infos[i].get("day", 0) for i in ended], np.int64)
            self.ended_days.extend((days - self.start_day[ended]).tolist())
            self.ended_horizon += int(horizon.sum())
            self.ended_churn += int((~horizon).sum())
            self._fold_entropy(ended)
            if self.adapter is not None:
                if dones.all():                        # the whole population starts over
                    self.ever_churned[:] = False
                    self.start_day[:] = 0
                else:
                    self.ever_churned[ended] = True
                    self.start_day[ended] = self.adapter.env.platform.sim.day
            else:
                self.start_day[ended] = 0
        if not isinstance(self.model, _on_policy()) and self.n_calls % self.every == 0:
            self._record()
        return True

    def _fold_entropy(self, slots: np.ndarray) -> None:
        from recsim_llm.analysis.metrics import entropy_bits

        c = self.counts[slots]
        seen = c.sum(axis=1) > 0
        self._entropies.extend(entropy_bits(c[seen]).tolist())
        self.counts[slots] = 0

    def _on_rollout_end(self) -> None:
        if isinstance(self.model, _on_policy()):
            self._record()

    def _on_training_end(self) -> None:
        # SB3 writes its logs every log_interval iterations; a short run would write none.
        if self.served:
            self._record()
        self.logger.dump(self.num_timesteps)

    def _record(self) -> None:
        from recsim_llm.analysis.metrics import entropy_bits

        live = self.counts[self.counts.sum(axis=1) > 0]
        ent = self._entropies + entropy_bits(live).tolist()
        stats: dict[str, float] = {}
        if ent:
            stats["topic_entropy"] = float(np.mean(ent))
        if self.served:
            stats["ctr"] = self.clicks / self.served
        if self.ended_days:
            stats["episode_days"] = float(np.mean(self.ended_days))
        if self.adapter is not None:
            stats["retention"] = float(1.0 - self.ever_churned.mean())
        elif self.ended_horizon + self.ended_churn:
            stats["retention"] = self.ended_horizon / (self.ended_horizon + self.ended_churn)
        for k, v in stats.items():
            self.logger.record(f"recsim/{k}", v)
        self.last = stats
        self._entropies = []
        self._reset_window()


def _on_policy() -> type:
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

    return OnPolicyAlgorithm


class RichProgress(_callback_base()):  # type: ignore[misc]
    """A rich progress bar of SB3 transitions, with transitions/s and the latest retention."""

    def __init__(self, stats: RecsimCallback | None = None) -> None:
        super().__init__()
        self.stats = stats

    def _on_training_start(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]} steps/s {task.fields[ret]}"),
                                 TimeElapsedColumn(), TimeRemainingColumn())
        total = self.locals["total_timesteps"] - self.model.num_timesteps
        self.task = self.progress.add_task("train", total=total, rate="-", ret="")
        self.t0 = time.perf_counter()
        self.done = 0
        self.progress.start()

    def _on_step(self) -> bool:
        self.done += self.training_env.num_envs
        if self.n_calls % 10 == 0:
            rate = self.done / max(time.perf_counter() - self.t0, 1e-9)
            ret = ""
            if self.stats is not None and "retention" in self.stats.last:
                ret = f"retention {self.stats.last['retention']:.3f}"
            self.progress.update(self.task, completed=self.done, rate=f"{rate:,.0f}", ret=ret)
        return True

    def _on_training_end(self) -> None:
        self.progress.update(self.task, completed=self.done)
        self.progress.stop()


# --------------------------------------------------------------------------- training
@dataclass
class TrainResult:
    model: Any
    """the trained SB3 model"""
    config: TrainConfig
    path: Path | None
    """``OUT/model.zip`` (None when no ``out`` was given)"""
    seconds: float
    stats: dict[str, float]
    """the last values the RecsimCallback recorded"""


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def build_model(cfg: TrainConfig, env: Any, tensorboard_log: str | None = None) -> Any:
    """The SB3 model of ``cfg`` on ``env`` (hyperparameters: defaults, then ``cfg.hparams``)."""
    cls = algorithm_class(cfg.algo)
    kw = {**default_hparams(cfg.algo, env.num_envs), **dict(cfg.hparams)}
    if cfg.algo in ("a2c", "ppo"):
        kw.pop("buffer_size", None)
    try:
        return cls("MlpPolicy", env, gamma=cfg.reward.gamma, seed=cfg.seed, device="cpu",
                   tensorboard_log=tensorboard_log, verbose=0, **kw)
    except TypeError as err:
        raise ConfigError(f"TrainConfig.hparams: {err}") from None


def train(cfg: TrainConfig, out: str | Path | None = None, *, progress_bar: bool = False,
          tensorboard: bool = True, callbacks: list[Any] | None = None) -> TrainResult:
    """Train an SB3 agent as ``cfg`` says; with ``out``, save it for replay.

    Writes ``out/model.zip`` and ``out/agent.json`` (:func:`save_agent`), ``out/train.json``
    (``cfg``, the scenario configuration, time and last logged statistics) and TensorBoard
    event files under ``out/tb`` (when ``tensorboard`` and ``out`` are set).

    Raises:
        ConfigError: a bad configuration (unknown algorithm, a mode it cannot take, ...).
        RuntimeError: ``tensorboard=True`` without the tensorboard package.
    """
    import torch

    if tensorboard and out is not None and not tensorboard_available():
        raise RuntimeError("TensorBoard logging needs the 'tensorboard' package: "
                           "pip install 'recsim-llm[rl]' (or train with tensorboard=False / "
                           "--no-tensorboard)")
    env = make_train_env(cfg)
    tb = str(Path(out) / "tb") if (tensorboard and out is not None) else None
    model = build_model(cfg, env, tb)
    stats = RecsimCallback()
    cbs: list[Any] = [stats, *(callbacks or [])]
    if progress_bar:
        cbs.append(RichProgress(stats))
    torch.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    model.learn(cfg.timesteps, callback=cbs, tb_log_name=cfg.algo)
    seconds = time.perf_counter() - t0
    path = None
    if out is not None:
        path = save_agent(model, env, out, reward=cfg.reward)
        inner = _inner_env(env)
        info = {"train": cfg.to_dict(), "scenario_config": dataclasses.asdict(inner.cfg),
                "timesteps_done": int(model.num_timesteps), "seconds": seconds,
                "last_stats": stats.last, "hparams_used": _jsonable(model_hparams(model))}
        (Path(out) / TRAIN_FILE).write_text(json.dumps(info, indent=2, default=str))
    env.close()
    return TrainResult(model=model, config=cfg, path=path, seconds=seconds, stats=stats.last)


def model_hparams(model: Any) -> dict[str, Any]:
    keys = ("n_steps", "batch_size", "learning_rate", "gamma", "buffer_size", "learning_starts",
            "train_freq", "gradient_steps", "n_epochs", "ent_coef", "target_update_interval")
    return {k: getattr(model, k) for k in keys if hasattr(model, k)}


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out[k] = v if isinstance(v, (int, float, str, bool, type(None))) else str(v)
    return out


# --------------------------------------------------------------------------- save / replay
def _env_settings(env: Any) -> dict[str, Any]:
    inner = _inner_env(env)
    mode = inner.mode
    settings: dict[str, Any] = {"action_mode": mode.name, "scenario": inner.cfg.name,
                                "observation_size": observation_size(inner.world.dim),
                                "n_items": inner.world.n_items,
                                "slate_size": inner.cfg.slate_size,
                                "catalog_source": inner.world.catalog.source,
                                "encoder_identity": inner.world.encoder_identity}
    if mode.name == "strategy":
        settings["strategies"] = list(mode.strategies)
    if mode.name == "query":
        settings["query_dim"] = mode.dim
        settings["query_basis"] = mode.basis
    return settings


def save_agent(model: Any, env: Any, out: str | Path, reward: RewardConfig | None = None
               ) -> Path:
    """Save an SB3 model trained on one of our environments; returns ``out/model.zip``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    algo = type(model).__name__.lower()
    if algo not in ALGORITHMS:
        raise ValueError(f"unsupported SB3 algorithm {type(model).__name__}")
    model.save(folder / "model.zip")
    info = {"algorithm": algo, **_env_settings(env)}
    if reward is not None:
        info["reward"] = reward.to_dict()
    (folder / AGENT_FILE).write_text(json.dumps(info, indent=2))
    return folder / "model.zip"


class SB3Policy(BasePolicy):
    """A saved SB3 agent acting through its action mode (deterministic actions)."""

    name = "sb3"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        meta = self.path.parent / AGENT_FILE
        if not self.path.is_file():
            raise PolicyError(f"no SB3 model at {self.path}")
        if not meta.is_file():
            raise PolicyError(f"{meta} is missing: save agents with "
                              f"recsim_llm.agents.sb3.save_agent (or `recsim-llm train`)")
        try:
            self.meta = json.loads(meta.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise PolicyError(f"{meta} is unreadable: {err}") from None
        try:
            cls = algorithm_class(self.meta.get("algorithm", "?"))
        except ValueError as err:
            raise PolicyError(f"{meta}: {err}") from None
        try:
            self.model = cls.load(self.path, device="cpu")
        except Exception as err:  # SB3 raises zipfile/pickle/KeyError variants
            raise PolicyError(f"{self.path} is not a {cls.__name__} model: {err}") from None
        self.mode: ActionMode | None = None

    def check_params(self, ctx: PolicyContext) -> None:
        want = observation_size(ctx.item_emb.shape[1])
        shape = getattr(self.model.observation_space, "shape", None)
        have = shape[0] if shape else self.meta.get("observation_size")
        if have != want:
            raise PolicyError(f"{self.path} was trained on observations of size {have}, this "
                              f"run's are {want} (another scenario, encoder or embedding "
                              f"size: trained on {self.meta.get('scenario')!r})")
        enc = self.meta.get("encoder_identity")
        if enc is not None and enc != ctx.encoder_identity:
            raise PolicyError(f"{self.path} was trained with the encoder {enc!r}, this run "
                              f"uses {ctx.encoder_identity!r}: its observations would mean "
                              f"something else")
        src = self.meta.get("catalog_source")
        if src is not None and src != ctx.catalog.source:
            raise PolicyError(f"{self.path} was trained on scenario "
                              f"{self.meta.get('scenario')!r} (catalog {src!r}), this run's "
                              f"catalog is {ctx.catalog.source!r}")
        # A scores action is a vector over one catalog's items, a PCA query a point in one
        # catalog's principal directions; an encoder-basis query means the same everywhere.
        if (self.meta.get("n_items") != ctx.catalog.n_items
                and (self.meta["action_mode"] == "scores" or self._query_basis() == "pca")):
            raise PolicyError(f"{self.path} acts on a catalog of {self.meta.get('n_items')} "
                              f"items ({self.meta['action_mode']} mode), this run's catalog "
                              f"has {ctx.catalog.n_items}")

    def bind(self, ctx: PolicyContext, rng: np.random.Generator) -> None:
        super().bind(ctx, rng)
        self.mode = make_action_mode(self.meta["action_mode"], ctx,
                                     strategies=self.meta.get("strategies"),
                                     query_dim=self.meta.get("query_dim"),
                                     query_basis=self._query_basis())
        self.mode.bind(int(rng.integers(2**31 - 1)))

    def _query_basis(self) -> str | None:
        if self.meta["action_mode"] != "query":
            return None
        # Agents saved before the basis was recorded were trained on the catalog's PCA.
        return str(self.meta.get("query_basis", "pca"))

    def rank(self, view: PlatformView) -> IntArray:
        assert self.mode is not None
        obs = observe(view)
        actions, _ = self.model.predict(obs, deterministic=True)
        return self.mode.to_slates(np.asarray(actions), view)

    def observe(self, feedback: LoggedFeedback) -> None:
        """The agent's network does not learn while replayed; the learning rankers of its
        strategy mode (e.g. ``mf``) keep learning from every request, as they did in training."""
        if self.mode is not None:
            self.mode.observe(feedback)

    def params(self) -> dict[str, Any]:
        # The model lives in its zip; a checkpoint records which one (and the mode's rankers).
        return {"path": str(self.path),
                "mode": None if self.mode is None else self.mode.state_dict()}

    def load_params(self, params: dict[str, Any]) -> None:
        if params.get("path") not in (None, str(self.path)):
            raise PolicyError(f"state of the agent {params.get('path')} cannot be loaded into "
                              f"{self.path}")
        if self.mode is not None and params.get("mode"):
            self.mode.load_state_dict(params["mode"])


def _make(arg: str | None) -> SB3Policy:
    if not arg:
        raise ValueError("sb3 needs the saved model, e.g. 'sb3:runs/ppo/model.zip'")
    return SB3Policy(arg)


register_policy("sb3", _make,
                "sb3:PATH     a saved Stable-Baselines3 agent (model.zip + agent.json)")
