"""The ``recsim-llm`` command line: simulate, plot, report, envs, train."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

# rich_markup_mode=None: help texts are plain, so "[default: 1]" or "[scenario]" stay visible
# (rich markup took every bracketed word for a style tag and deleted it).
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Long-horizon simulation of recommender systems with text-preference "
                       "users.")


def _fail(msg: str) -> None:
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def _one_line(err: BaseException) -> str:
    """An exception as one line: I/O errors name the file and the reason, never a traceback."""
    if (isinstance(err, OSError) and err.errno is not None
            and type(err).__str__ is OSError.__str__):
        where = f" {err.filename}" if err.filename else ""
        from recsim_llm.integrity import describe_os_error

        return f"I/O error on{where}: {describe_os_error(err)}"
    return " ".join(str(err).split())


def _ignore_file_size_signal() -> None:
    """Past a file-size limit (``ulimit -f``) the kernel kills a process with SIGXFSZ unless it is
    ignored; then the write fails with EFBIG and the run stops with one line, like a full disk."""
    import signal

    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _load_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        _fail(f"config file not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        _fail(f"{path} is not UTF-8 text (byte {err.start}: {err.reason}); save it as UTF-8")
    except OSError as err:
        _fail(f"cannot read config file {path}: {_one_line(err)}")
    data: Any = None
    if path.suffix == ".toml":
        import tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            _fail(f"{path}: invalid TOML: {' '.join(str(err).split())}")
        return _check_tables(path, data)
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            _fail("YAML configs need PyYAML (pip install pyyaml); TOML needs nothing")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            _fail(f"{path}: invalid YAML: {' '.join(str(err).split())}")
        return _check_tables(path, data or {})
    _fail(f"{path}: config files must end in .toml, .yaml or .yml")
    return {}


def _check_tables(path: Path, data: Any) -> dict[str, Any]:
    """The file must be a table of tables: [scenario] (with sub-tables) and [run]."""
    if not isinstance(data, dict):
        _fail(f"{path}: the top level must be a table with [scenario] and [run], got "
              f"{type(data).__name__}")
    for name in ("scenario", "run"):
        if name in data and not isinstance(data[name], dict):
            _fail(f"{path}: [{name}] must be a table, got {data[name]!r}")
    return data


@app.command()
def simulate(
    scenario: Annotated[str, typer.Option(help="scenario name (see `recsim-llm envs`)")] =
    "synthetic",
    policy: Annotated[list[str] | None, typer.Option(
        help="policy (repeat for several; paired on the same seeds): random, popular, greedy, "
             "mmr, mmr:ALPHA, mf, oracle, a saved policy file (.pkl), or sb3:MODEL.zip")] = None,
    users: Annotated[int | None, typer.Option(
        help="users on day 0 [default: the scenario's, 1000 on synthetic]")] = None,
    days: Annotated[int | None, typer.Option(
        help="simulated days (horizon) [default: the scenario's, 120]")] = None,
    seeds: Annotated[int | None, typer.Option(
        help="number of seeds K: seeds seed_start .. seed_start+K-1 [default: 1]")] = None,
    seed_start: Annotated[int | None, typer.Option(help="first seed [default: 0]")] = None,
    out: Annotated[Path | None, typer.Option(help="results folder [default: results/run]")] =
    None,
    encoder: Annotated[str | None, typer.Option(
        help="minilm (bundled), hashing[:DIM], or a local Hugging Face model folder")] = None,
    embedding_dim: Annotated[int | None, typer.Option(
        help="PCA-project embeddings to this many dims (0 = keep)")] = None,
    config: Annotated[Path | None, typer.Option(
        help="TOML/YAML run configuration (a [scenario] table of ScenarioConfig keys and a "
             "[run] table with policies/seeds/...); command-line options override it")] = None,
    data: Annotated[Path | None, typer.Option(help="data folder of a real-data scenario")] =
    None,
    log_level: Annotated[str, typer.Option(
        help="trajectory detail: daily | user-day | request (request allows exact replay)")] =
    "daily",
    checkpoint_every: Annotated[int, typer.Option(
        help="write a checkpoint every N simulated days (rerun the same command to resume)")] =
    10,
    train_days: Annotated[int, typer.Option(
        help="length of a training phase (rows labelled phase=train, later days eval)")] = 0,
    freeze: Annotated[bool, typer.Option(
        "--freeze", help="after --train-days (from day 0 without it) the policies stop "
                         "learning: a frozen replay; default: continual learning")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    """Run policies x seeds over a scenario's horizon (paired seeds); write daily.csv,
    groups.csv, users.csv, trajectories and manifest.json to OUT. Rerunning the same command
    after an interruption resumes from the last checkpoint."""
    from recsim_llm.agents.base import PolicyError
    from recsim_llm.agents.registry import resolve_policy
    from recsim_llm.checkpoint import CheckpointError
    from recsim_llm.config import ConfigError, ScenarioConfig, merge_config
    from recsim_llm.results_store import FolderLockedError
    from recsim_llm.runner import simulate as run_simulate
    from recsim_llm.scenarios import scenario_names

    file_cfg: dict[str, Any] = _load_config_file(config) if config else {}
    unknown = set(file_cfg) - {"scenario", "run"}
    if unknown:
        _fail(f"{config}: unknown top-level table(s) {sorted(unknown)}; use [scenario] and [run]")
    scen = dict(file_cfg.get("scenario", {}))
    run = dict(file_cfg.get("run", {}))
    unknown_run = set(run) - {"policies", "seeds", "seed_start", "out", "data"}
    if unknown_run:
        _fail(f"{config}: unknown key(s) in [run]: {sorted(unknown_run)}; valid: policies, "
              f"seeds, seed_start, out, data")
    if scenario != "synthetic" or "name" not in scen:
        scen["name"] = scenario
    if scen["name"] not in scenario_names():
        _fail(f"unknown scenario {scen['name']!r}; valid scenarios: {scenario_names()}")
    if days is not None:
        scen["horizon_days"] = days
    if encoder is not None:
        scen["encoder"] = encoder
    if embedding_dim is not None:
        scen["embedding_dim"] = embedding_dim
    if users is not None:
        if not isinstance(scen.setdefault("population", {}), dict):
            _fail(f"config key 'population' must be a table, got {scen['population']!r}")
        scen["population"]["n_users"] = users
    policies = policy or run.get("policies") or ["random", "greedy", "mmr"]
    if isinstance(policies, str):
        policies = [policies]
    if not isinstance(policies, list) or not all(isinstance(p, str) for p in policies):
        _fail(f"[run] policies must be a list of policy names, got {policies!r}")
    try:
        for p in policies:
            resolve_policy(p)  # names, saved-policy files and sb3:PATH fail here, not later
    except (ValueError, PolicyError) as err:
        _fail(str(err))
    n_seeds = seeds if seeds is not None else run.get("seeds", 1)
    first = seed_start if seed_start is not None else run.get("seed_start", 0)
    for key, val in (("seeds", n_seeds), ("seed_start", first)):
        if isinstance(val, bool) or not isinstance(val, int):
            _fail(f"[run] {key} must be an integer, got {val!r}")
    if n_seeds < 1:
        _fail(f"--seeds must be >= 1, got {n_seeds}")
    if first < 0:
        _fail(f"--seed-start must be >= 0, got {first}")
    for key in ("out", "data"):
        if key in run and not isinstance(run[key], str):
            _fail(f"{config}: [run] {key} must be a folder path (a string), got {run[key]!r}")
    out = out or Path(run.get("out", "results/run"))
    data_path = data or run.get("data")
    try:
        cfg = merge_config(ScenarioConfig.defaults_for(scen["name"]), scen)
    except (ConfigError, TypeError) as err:
        _fail(f"invalid configuration: {err}")
    seed_list = list(range(first, first + n_seeds))
    total = len(policies) * len(seed_list) * cfg.horizon_days

    if train_days < 0:
        _fail(f"--train-days: train_days must be >= 0, got {train_days}")
    if train_days > cfg.horizon_days:
        _fail(f"--train-days ({train_days}) must not exceed the horizon ({cfg.horizon_days} days)")
    if checkpoint_every < 1:
        _fail(f"--checkpoint-every must be >= 1, got {checkpoint_every}")
    days_per_policy = {p: len(seed_list) * cfg.horizon_days for p in policies}
    _ignore_file_size_signal()
    t0 = time.perf_counter()
    eta = PolicyEta(days_per_policy)
    # On a terminal a live bar; in a log file (not a TTY) one line every 5 %.
    live = not quiet and sys.stderr.isatty()
    lines = LineProgress(eta, sys.stderr) if not quiet and not live else None
    progress = _bar(quiet or not live)
    with progress:
        task = progress.add_task("simulating", total=total, eta="-")

        def on_day(pol: str, seed: int, day: int) -> None:
            eta.tick(pol)
            progress.update(task, advance=1, eta=eta.text(),
                            description=f"{pol} seed {seed} day {day + 1}")
            if lines is not None:
                lines.tick(pol, seed, day)

        try:
            result = run_simulate(cfg, policies, seed_list, out=out, data_path=data_path,
                                  progress=on_day, log_level=log_level,
                                  checkpoint_every=checkpoint_every,
                                  train_days=train_days, freeze=freeze)
        except (OSError, ValueError, CheckpointError, FolderLockedError) as err:
            _fail(_one_line(err))
    if not quiet:
        _summary(result.daily, out, time.perf_counter() - t0)


def _bar(disable: bool) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("ETA {task.fields[eta]}"),
                    console=Console(stderr=True), disable=disable, transient=False)


def _duration(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else \
        f"{s // 60}:{s % 60:02d}"


class PolicyEta:
    """Remaining time from each policy's own speed (an oracle or MF is slower than random).

    The time between two progress ticks is charged to the policy of the later tick; the
    remaining days of each policy are multiplied by its seconds per day (policies not started
    yet use the mean of the measured ones).
    """

    def __init__(self, days: dict[str, int], clock: Any = time.perf_counter) -> None:
        self.left = dict(days)
        self.spent = dict.fromkeys(days, 0.0)
        self.done = dict.fromkeys(days, 0)
        self.clock = clock
        self.last = clock()

    def tick(self, policy: str) -> None:
        now = self.clock()
        self.spent[policy] = self.spent.get(policy, 0.0) + (now - self.last)
        self.last = now
        self.done[policy] = self.done.get(policy, 0) + 1
        self.left[policy] = max(self.left.get(policy, 0) - 1, 0)

    def per_policy(self) -> dict[str, float | None]:
        """Seconds left per policy (None where no speed is known yet)."""
        rates = {p: self.spent[p] / self.done[p] for p in self.done if self.done[p]}
        mean = sum(rates.values()) / len(rates) if rates else None
        out: dict[str, float | None] = {}
        for p, n in self.left.items():
            r = rates.get(p, mean)
            out[p] = None if r is None else n * r
        return out

    def seconds(self) -> float | None:
        parts = self.per_policy().values()
        return None if any(v is None for v in parts) else sum(v or 0.0 for v in parts)

    def text(self) -> str:
        sec = self.seconds()
        return "-" if sec is None else _duration(sec)


class LineProgress:
    """Progress for logs: one plain line per 5 % of the days (and at the end), with the ETA and
    each unfinished policy's share of it."""

    def __init__(self, eta: PolicyEta, stream: Any, step_percent: int = 5) -> None:
        self.eta, self.stream = eta, stream
        self.total = sum(eta.left.values())
        self.count = 0
        self.step = step_percent
        self.next = step_percent
        self.t0 = eta.clock()

    def tick(self, policy: str, seed: int, day: int) -> None:
        self.count += 1
        pct = 100 * self.count // max(self.total, 1)
        if pct < self.next and self.count < self.total:
            return
        self.next = (pct // self.step + 1) * self.step
        per = {p: v for p, v in self.eta.per_policy().items() if self.eta.left[p]}
        rest = ", ".join(f"{p} {_duration(v)}" for p, v in per.items() if v is not None)
        self.stream.write(
            f"progress {pct:3d}% ({self.count}/{self.total} policy-days) {policy} seed {seed} "
            f"day {day + 1}; elapsed {_duration(self.eta.clock() - self.t0)}, ETA "
            f"{self.eta.text()}{f' ({rest})' if rest else ''}\n")
        self.stream.flush()


def _summary(daily: Any, out: Path, seconds: float) -> None:
    from rich.console import Console
    from rich.table import Table

    last = daily[daily.day == daily.day.max()]
    first = daily[daily.day == 1]
    table = Table(title=f"day 1 and day {int(daily.day.max())}, mean over seeds")
    for col in ("policy", "ctr day 1", "retention", "ctr", "topic entropy", "homogenization"):
        table.add_column(col)
    for pol in dict.fromkeys(daily.policy):
        f, la = first[first.policy == pol], last[last.policy == pol]
        table.add_row(pol, f"{f.ctr.mean():.3f}", f"{la.retention.mean():.3f}",
                      f"{la.ctr.mean():.3f}", f"{la.topic_entropy.mean():.3f}",
                      f"{la.homogenization.mean():.3f}")
    console = Console()
    console.print(table)
    console.print(f"wrote {out}/daily.csv, groups.csv, users.csv, manifest.json in "
                  f"{seconds:.1f} s")


@app.command()
def plot(
    run_dir: Annotated[Path, typer.Argument(help="results folder written by `simulate`")],
    out: Annotated[Path | None, typer.Option(help="figures folder (default RUN_DIR/figures)")] =
    None,
    fmt: Annotated[list[str] | None, typer.Option("--format", help="png, pdf, svg (repeat)")] =
    None,
    level: Annotated[float, typer.Option(help="confidence level of the bands")] = 0.95,
    dpi: Annotated[int, typer.Option(help="resolution of raster figures")] = 150,
    individual: Annotated[bool, typer.Option(help="also one figure per metric")] = True,
) -> None:
    """Long-horizon curves (one line per policy, CI band over seeds) as PNG and PDF."""
    from recsim_llm.analysis.plots import plot_run

    try:
        paths = plot_run(run_dir, out, formats=tuple(fmt or ("png", "pdf")), level=level,
                         dpi=dpi, individual=individual)
    except (OSError, ValueError) as err:
        _fail(_one_line(err))
    for p in paths:
        typer.echo(str(p))


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="results folder written by `simulate`")],
    out: Annotated[Path | None, typer.Option(help="HTML file (default RUN_DIR/report.html)")] =
    None,
    reference: Annotated[str | None, typer.Option(
        help="policy the paired differences are taken against (default: the first)")] = None,
    window: Annotated[str, typer.Option(
        help="days of the headline table: 'last N days', 'first N days', 'all', 'last', a day "
             "number 'D', or a range 'A-B' (inclusive)")] = "last 10 days",
    level: Annotated[float, typer.Option(help="confidence level")] = 0.95,
) -> None:
    """One self-contained HTML page: figures, headline numbers with CIs, configuration."""
    from recsim_llm.analysis.report import write_report

    try:
        path = write_report(run_dir, out, level=level, window=window, reference=reference)
    except (OSError, ValueError) as err:
        _fail(_one_line(err))
    typer.echo(str(path))


@app.command()
def calibrate(
    scenario: Annotated[str, typer.Option(help="ml-100k or ml-latest-small")] = "ml-100k",
    data: Annotated[Path | None, typer.Option(
        help="dataset folder (default: ML-100K from the recbole wheel; ml-latest-small from "
             "$RECSIM_LLM_DATA_DIR)")] = None,
    encoder: Annotated[str, typer.Option(
        help="minilm (bundled), hashing[:DIM], or a local Hugging Face model folder")] =
    "minilm",
    out: Annotated[Path | None, typer.Option(help="folder for results.json and report.md")] =
    None,
    max_users: Annotated[int | None, typer.Option(help="calibrate on a sample of users")] =
    None,
    seed: Annotated[int, typer.Option(help="seed of every sample")] = 0,
) -> None:
    """Fit the choice model's constants to MovieLens by maximum likelihood on the training
    period and report held-out AUC and yes/no accuracy, precision, recall and F1 (1:1, 1:3,
    1:9), next to a hashing-encoder and a popularity-only user model."""
    from recsim_llm.calibration import calibrate_command

    try:
        res = calibrate_command(scenario, data, encoder, out, max_users, seed)
    except (FileNotFoundError, ValueError) as err:
        _fail(str(err))
    typer.echo(res["report"])
    for f in res.get("out_files", []):
        typer.echo(f"wrote {f}")


@app.command()
def data(
    dataset: Annotated[str, typer.Argument(help="dataset to fetch: ml-100k")],
    dir: Annotated[Path | None, typer.Option(
        "--dir", help="data folder (default: $RECSIM_LLM_DATA_DIR, else "
                      "~/.cache/recsim_llm/data)")] = None,
) -> None:
    """Fetch a dataset the real-data scenarios read, from the package index (no manual step):
    ml-100k comes from the recbole==1.2.1 wheel (`pip download --no-deps`)."""
    from recsim_llm.catalog.download import download_ml100k

    if dataset != "ml-100k":
        _fail(f"unknown dataset {dataset!r}; valid datasets: ['ml-100k']")
    try:
        folder = download_ml100k(dir)
    except RuntimeError as err:
        _fail(str(err))
    typer.echo(f"ML-100K is in {folder}")
    if dir is not None:
        typer.echo(f"the ml-100k scenario finds it with RECSIM_LLM_DATA_DIR={folder.parent} "
                   f"(or --data {folder})")


@app.command()
def envs() -> None:
    """List the registered environment ids and scenarios."""
    from recsim_llm.envs.registration import ENV_SPECS
    from recsim_llm.scenarios import scenario_names

    for env_id, kw in ENV_SPECS.items():
        typer.echo(f"{env_id}  {kw}")
    typer.echo(f"scenarios: {', '.join(scenario_names())}")


@app.command()
def train(
    algo: Annotated[str, typer.Option(help="ppo | a2c | dqn | sac | td3")] = "ppo",
    action_mode: Annotated[str | None, typer.Option(
        help="strategy (Discrete: PPO, A2C, DQN) | scores | query (Box: PPO, A2C, SAC, TD3) "
             "[default: strategy; query for SAC/TD3]")] = None,
    scenario: Annotated[str, typer.Option(help="scenario name (see `recsim-llm envs`)")] =
    "synthetic",
    timesteps: Annotated[int, typer.Option(help="SB3 transitions (population: users x steps)")] =
    10_000,
    out: Annotated[Path, typer.Option(help="folder for model.zip, agent.json, train.json, tb/")]
    = Path("runs/agent"),
    population: Annotated[int | None, typer.Option(
        help="train on N users at once through the population VecEnv adapter [default: the "
             "single-user env]")] = None,
    seed: Annotated[int, typer.Option(help="seed of SB3 and of the simulation")] = 0,
    days: Annotated[int | None, typer.Option(help="episode horizon in days")] = None,
    encoder: Annotated[str | None, typer.Option(
        help="minilm (bundled), hashing[:DIM], or a local Hugging Face model folder")] = None,
    reward: Annotated[str, typer.Option(help="base reward: click | dwell | satisfaction")] =
    "click",
    return_bonus: Annotated[float, typer.Option(
        help="reward when the user comes back on a later day")] = 0.0,
    churn_penalty: Annotated[float, typer.Option(help="penalty at the step a user churns")] =
    0.0,
    gamma: Annotated[float, typer.Option(help="discount per step (request)")] = 0.99,
    hparams: Annotated[str | None, typer.Option(
        help='SB3 keyword arguments as JSON, e.g. \'{"n_steps": 64}\'')] = None,
    config: Annotated[Path | None, typer.Option(
        help="TOML/YAML file whose [scenario] table overrides ScenarioConfig keys")] = None,
    tensorboard: Annotated[bool, typer.Option(help="TensorBoard logs in OUT/tb")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    """Train a Stable-Baselines3 agent on a scenario and save it to OUT (model.zip, agent.json,
    train.json, TensorBoard logs in OUT/tb); replay it with
    `simulate --policy sb3:OUT/model.zip`."""
    import json

    from recsim_llm.config import ConfigError
    from recsim_llm.envs.rewards import RewardConfig

    try:
        from recsim_llm.agents.sb3 import TrainConfig
        from recsim_llm.agents.sb3 import train as run_train
    except ModuleNotFoundError as err:
        _fail(f"training needs {err.name!r}: pip install 'recsim-llm[rl]'")
    file_cfg: dict[str, Any] = _load_config_file(config) if config else {}
    unknown = set(file_cfg) - {"scenario"}
    if unknown:
        _fail(f"{config}: unknown top-level table(s) {sorted(unknown)}; train reads [scenario]")
    extra: dict[str, Any] = {}
    if hparams:
        try:
            extra = json.loads(hparams)
        except json.JSONDecodeError as err:
            _fail(f"--hparams is not valid JSON: {err}")
        if not isinstance(extra, dict):
            _fail(f"--hparams must be a JSON object, got {hparams!r}")
    try:
        cfg = TrainConfig(algo=algo, action_mode=action_mode, scenario=scenario,
                          timesteps=timesteps, population=population, seed=seed,
                          horizon_days=days, encoder=encoder,
                          reward=RewardConfig(kind=reward, return_bonus=return_bonus,
                                              churn_penalty=churn_penalty, gamma=gamma),
                          config=dict(file_cfg.get("scenario", {})), hparams=extra)
        res = run_train(cfg, out, progress_bar=not quiet, tensorboard=tensorboard)
    except (ConfigError, ValueError, TypeError, FileNotFoundError, RuntimeError) as err:
        _fail(str(err))
    stats = ", ".join(f"{k} {v:.3f}" for k, v in res.stats.items())
    typer.echo(f"trained {cfg.algo} ({cfg.action_mode}) for {res.model.num_timesteps} steps in "
               f"{res.seconds:.1f} s; {stats}")
    typer.echo(f"wrote {res.path} (replay: recsim-llm simulate --policy sb3:{res.path})")



def main() -> None:  # pragma: no cover
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()


# --------------------------------------------------------------------------- benchmark suites
# (kept together at the end of the file: `bench` runs a suite, `compare` two suite results)


@app.command()
def bench(
    suite: Annotated[str, typer.Option(
        help="suite name (benchmarks/suites/NAME.toml: small, large) or a suite file")] =
    "small",
    out: Annotated[Path | None, typer.Option(
        help="results folder [default: results/bench-SUITE]")] = None,
    backend: Annotated[str, typer.Option(
        help="local (this process, or a process pool with --workers > 1) | ray")] = "local",
    address: Annotated[str | None, typer.Option(
        help="Ray cluster address (HOST:PORT, ray://HOST:PORT or auto); default: start a "
             "local Ray with --workers CPUs")] = None,
    workers: Annotated[int | None, typer.Option(
        help="parallel runs [default: 1 for local, the CPU count for a local Ray]")] = None,
    no_plots: Annotated[bool, typer.Option("--no-plots", help="skip the figures")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    """Run a benchmark suite (policies x scenarios x seeds) and write OUT/leaderboard.md and
    leaderboard.csv (headline long-term numbers with CIs), every run's tables and figures.
    Rerunning the same command resumes an interrupted suite."""
    from recsim_llm.bench import BackendError, SuiteError, load_suite, run_suite

    try:
        s = load_suite(suite)
        res = run_suite(s, out or Path(f"results/bench-{s.name}"), backend=backend,
                        workers=workers, address=address, progress=not quiet,
                        plots=not no_plots)
    except (SuiteError, BackendError, FileNotFoundError, ValueError) as err:
        _fail(str(err))
    m = res.manifest
    typer.echo(f"{m['n_runs']} runs ({m['runs_this_invocation']} now, {m['runs_resumed']} "
               f"resumed) in {m['seconds_this_invocation']:.1f} s; wrote "
               f"{res.out}/leaderboard.md, leaderboard.csv, results.csv, runs/")
    if m.get("retried_runs"):
        typer.echo(f"retried after a worker failure: {m['retried_runs']}")


@app.command()
def compare(
    a: Annotated[Path, typer.Argument(help="results folder of `recsim-llm bench` (before)")],
    b: Annotated[Path, typer.Argument(help="results folder of `recsim-llm bench` (after)")],
    out: Annotated[Path | None, typer.Option(
        help="also write the table here (.md, or .csv for the numbers)")] = None,
    level: Annotated[float, typer.Option(help="confidence level")] = 0.95,
    resamples: Annotated[int, typer.Option(help="bootstrap resamples")] = 9999,
) -> None:
    """The change B - A of every headline number, paired by (scenario, policy, seed), with
    paired bootstrap CIs."""
    from recsim_llm.bench.compare import CompareError, compare_markdown
    from recsim_llm.bench.compare import compare as run_compare

    if not 0.0 < level < 1.0:
        _fail(f"--level must be in (0, 1), got {level}")
    try:
        table = run_compare(a, b, level=level, n_resamples=resamples)
    except CompareError as err:
        _fail(str(err))
    md = compare_markdown(table, a, b, level)
    typer.echo(md)
    if out is not None:
        if out.suffix == ".csv":
            table.to_csv(out, index=False)
        else:
            out.write_text(md + "\n")
        typer.echo(f"wrote {out}")


# --------------------------------------------------------------------------- LLM ranker


@app.command("fit-llm")
def fit_llm(
    run: Annotated[Path, typer.Argument(help="results folder of a run saved with --out and "
                                             "--log-level request")],
    policy: Annotated[str, typer.Option(help="the logged policy whose run to learn from")],
    out: Annotated[Path, typer.Option(help="checkpoint folder to write")],
    seed: Annotated[int, typer.Option(help="the logged seed")] = 0,
    spec: Annotated[str, typer.Option(help="the ranker to fit: llm, llm:7,finetune=lora, ...")]
    = "llm",
    min_day: Annotated[int, typer.Option(help="first logged day trained on")] = 0,
) -> None:
    """Fit the LLM ranker on another policy's saved run (its logged slates, clicks and dwell
    only) and write a checkpoint; serve it with `simulate --policy "llm:7,init=OUT"`."""
    try:
        from recsim_llm.agents.llm import LLMRankerPolicy
    except ModuleNotFoundError as err:
        _fail(f"the LLM ranker needs {err.name!r}: pip install 'recsim-llm[llm]'")
    from recsim_llm.config import ConfigError

    try:
        pol = LLMRankerPolicy.fit_from_run(run, policy, seed, spec, min_day=min_day)
        path = pol.save_checkpoint(out)
    except (ConfigError, ValueError, OSError) as err:
        _fail(_one_line(err))
    fit = pol.fit_history[-1]
    typer.echo(f"fitted {pol.spec} on {pol.fit_source['rows']} logged rows of {policy!r} seed "
               f"{seed} ({fit['samples']} samples, loss {fit['loss_first']:.3f} -> "
               f"{fit['loss_last']:.3f}); wrote {path}")
