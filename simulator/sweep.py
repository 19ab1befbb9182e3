"""Monte Carlo sweeps: scenarios x policies x seeds, run in parallel, stored as Parquet.

    config = SweepConfig.from_file("sweeps/standard.yaml")
    run_sweep(config)                          # local processes (config.processes)
    run_sweep(config, executor=my_executor)    # anything with .map(fn, iterable), e.g. Celery-backed

One run is a :class:`RunSpec`: plain JSON-ready data (the scenario's full definition, the policy
and its parameters, the seed, the engine), so it can travel to another process or machine. The
pure function :func:`run_one` turns a spec into one Parquet file of per-epoch metrics (or its bytes),
carrying the run's end-of-run Lorenz curves of rewards in the file's metadata, and depends on
nothing but the spec: the same sweep gives the same numbers on 1 process, on 8, or
on Celery workers.

Seeds: run (scenario, seed index) gets ``SeedSequence(root_seed, spawn_key=(crc32(scenario name),
seed index))``; every policy of a scenario sees the same seeds (common random numbers, so policy
differences are not seed noise). Entropy and spawn key are recorded per run.

Output folder:
    manifest.json    what produced the numbers: code version, library versions, scenarios, policy
                     parameters, seeds, calibration file and its hash, metric descriptions, and
                     per scenario the attribution profile that scored the work (``attribution_
                     profiles``: the file's sha256, the method used, the data hash and seed it was
                     measured from; see simulator.attribution_model.profile_provenance)
    metrics.parquet  one row per run and epoch: run_id, scenario, policy, seed_index + METRICS
    runs.parquet     one row per run: identifiers, seed, and every metric at the last epoch
    lorenz.parquet   one row per run and group (honest, all): run_id, scenario, policy, seed_index +
                     LORENZ_METRICS, the Lorenz curve of contributors' cumulative rewards at the end
                     of the run (see simulator.metrics.LORENZ_GROUPS), exact from integer totals
    fairness.parquet one row per run: run_id, scenario, policy, seed_index + FAIRNESS_METRICS, honest
                     contributors' pay against the oracle's in the same run (rank correlation, pay
                     ratio, newcomers' wait for a first payout; see simulator.metrics)
    runs/            one Parquet file per run, as run_one wrote it (its Lorenz rows and fairness row
                     as JSON under the schema metadata keys LORENZ_METADATA_KEY, FAIRNESS_METADATA_KEY)

Policies: every economy policy, and the simulator's oracle reference (``oracle``, see
simulator.oracle), which pays each account its true contribution.

Format v3 added fairness.parquet and the ``fairness`` block; v2 added lorenz.parquet and the
``lorenz`` block of the manifest; a v1 folder has neither.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import platform
import subprocess
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, overload

import numpy as np

from simulator.economy.fields import optional, require_int, require_known_fields
from simulator.economy.policies import params_to_dict
from simulator.metrics import (
    FAIRNESS_METRICS,
    LORENZ_GRID,
    LORENZ_GROUPS,
    LORENZ_METRICS,
    METRICS,
    LorenzCurve,
)
from simulator.model import ENGINES, make_model
from simulator.oracle import SIMULATION_POLICIES, simulation_policy_from_dict
from simulator.params import ScenarioError
from simulator.scenarios import STANDARD_SCENARIOS, load_scenario, scenario_data
from simulator.settlement import SETTLEMENT_MODES

MANIFEST_FORMAT = "ledgerloop.simulator.sweep.v3"
MANIFEST_FORMAT_V2 = "ledgerloop.simulator.sweep.v2"  # before fairness.parquet; still readable
MANIFEST_FORMAT_V1 = "ledgerloop.simulator.sweep.v1"  # before lorenz.parquet; still readable
LORENZ_METADATA_KEY = b"ledgerloop.lorenz"
FAIRNESS_METADATA_KEY = b"ledgerloop.fairness"
ID_COLUMNS = ("run_id", "scenario", "policy", "seed_index")


class SweepError(ValueError):
    pass


# --- one run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """Everything one simulation run needs, as plain data."""

    run_id: str
    scenario: dict[str, Any]  # the scenario's full data (Scenario.to_data())
    policy: str  # the label of the policy variant (usually its name)
    policy_name: str
    policy_params: dict[str, Any]
    seed_index: int
    seed_entropy: int
    seed_spawn_key: tuple[int, ...]
    engine: str = "vectorized"
    settlement: str | None = None
    calibration: dict[str, Any] | None = None
    replay_log: str | None = None
    out_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        data = dict(data)
        data["seed_spawn_key"] = tuple(data["seed_spawn_key"])
        return cls(**data)

    @property
    def seed(self) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.seed_entropy, spawn_key=self.seed_spawn_key)


def _arrow_type(dtype: str) -> Any:
    """The Arrow type of a :class:`~simulator.metrics.Metric`'s dtype."""
    import pyarrow as pa

    return {"int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(), "string": pa.string()}[dtype]


def _metrics_table(columns: dict[str, list[Any]], spec: RunSpec) -> Any:
    import pyarrow as pa

    epochs = len(columns["epoch"])
    arrays = {
        "run_id": pa.array([spec.run_id] * epochs, pa.string()),
        "scenario": pa.array([spec.scenario["name"]] * epochs, pa.string()),
        "policy": pa.array([spec.policy] * epochs, pa.string()),
        "seed_index": pa.array([spec.seed_index] * epochs, pa.int64()),
    }
    for metric in METRICS:
        arrays[metric.name] = pa.array(columns[metric.name], _arrow_type(metric.dtype))
    return pa.table(arrays)


def _json_rows(rows: list[dict[str, Any]]) -> str:
    # NaN (a group nobody was paid in, a figure with nobody to measure) travels as null: strict JSON.
    return json.dumps(
        [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()} for row in rows],
        allow_nan=False,
    )


def _with_run_summaries(table: Any, curves: dict[str, LorenzCurve], fairness: dict[str, Any]) -> Any:
    """The run's table with its Lorenz rows and its fairness row in the schema metadata (one file
    per run stays one file, so executors that move a run's bytes need not change)."""
    return table.replace_schema_metadata(
        {
            **(table.schema.metadata or {}),
            LORENZ_METADATA_KEY: _json_rows([curve.as_row() for curve in curves.values()]),
            FAIRNESS_METADATA_KEY: _json_rows([fairness]),
        }
    )


def _summary_rows_of(table: Any, key: bytes, what: str, *, where: str) -> list[dict[str, Any]]:
    metadata = table.schema.metadata or {}
    if key not in metadata:
        raise SweepError(
            f"{where}: the run's Parquet file carries no {what} (metadata key "
            f"{key.decode()!r}); it was written by older code: run it again"
        )
    keys = {name: table.column(name)[0].as_py() for name in ID_COLUMNS}
    return [
        {**keys, **{k: (float("nan") if v is None else v) for k, v in row.items()}}
        for row in json.loads(metadata[key])
    ]


def lorenz_rows_of(table: Any, *, where: str) -> list[dict[str, Any]]:
    """The Lorenz rows a run's Parquet table carries, keyed by its run id, scenario, policy and seed."""
    return _summary_rows_of(table, LORENZ_METADATA_KEY, "Lorenz curve", where=where)


def fairness_rows_of(table: Any, *, where: str) -> list[dict[str, Any]]:
    """The fairness row (:data:`simulator.metrics.FAIRNESS_METRICS`) a run's Parquet table carries."""
    return _summary_rows_of(table, FAIRNESS_METADATA_KEY, "fairness figures", where=where)


def _summary_table(rows: list[dict[str, Any]], metrics: tuple[Any, ...]) -> Any:
    import pyarrow as pa

    columns = {name: pa.string() if name != "seed_index" else pa.int64() for name in ID_COLUMNS}
    columns.update({metric.name: _arrow_type(metric.dtype) for metric in metrics})
    return pa.table({name: pa.array([row[name] for row in rows], kind) for name, kind in columns.items()})


def lorenz_table(rows: list[dict[str, Any]]) -> Any:
    """Lorenz rows as an Arrow table with the documented columns and types."""
    return _summary_table(rows, LORENZ_METRICS)


def fairness_table(rows: list[dict[str, Any]]) -> Any:
    """Fairness rows as an Arrow table with the documented columns and types."""
    return _summary_table(rows, FAIRNESS_METRICS)


def run_one(spec: RunSpec | dict[str, Any]) -> str | bytes:
    """Run one simulation; write its metrics as Parquet to ``out_dir/runs/<run_id>.parquet`` and
    return that path, or return the Parquet bytes when the spec has no ``out_dir``.

    Pure in the sense that matters for a sweep: the result depends only on the spec.
    """
    import pyarrow.parquet as pq

    from simulator.calibration import apply_calibration

    if isinstance(spec, dict):
        spec = RunSpec.from_dict(spec)
    scenario = load_scenario(spec.scenario)
    if spec.calibration is not None:
        scenario = apply_calibration(scenario, spec.calibration)
    replay = None
    if spec.replay_log is not None:
        from simulator.replay import ReplayLog

        replay = ReplayLog.from_file(spec.replay_log)
        scenario = scenario.with_changes(epochs=min(scenario.epochs, replay.days))
    policy = simulation_policy_from_dict(spec.policy_name, spec.policy_params)
    model = make_model(
        spec.engine, scenario, policy, seed=spec.seed, settlement_mode=spec.settlement, replay=replay
    )
    table = _with_run_summaries(_metrics_table(model.run(), spec), model.reward_lorenz(), model.fairness())
    if spec.out_dir is None:
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        return buffer.getvalue()
    path = Path(spec.out_dir) / "runs" / f"{spec.run_id}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return str(path)


def _timed_run_one(spec: RunSpec) -> tuple[str | bytes, float]:
    start = time.perf_counter()
    result = run_one(spec)
    return result, time.perf_counter() - start


# --- a sweep ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyVariant:
    label: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepConfig:
    """A sweep: every scenario crossed with every policy, ``seeds`` runs each."""

    name: str = "sweep"
    scenarios: tuple[str, ...] = STANDARD_SCENARIOS
    policies: tuple[PolicyVariant, ...] = tuple(PolicyVariant(name, name) for name in SIMULATION_POLICIES)
    seeds: int = 8
    root_seed: int = 0
    engine: str = "vectorized"
    settlement: str | None = None
    processes: int = 1
    output: str = "var/sweeps/sweep"
    epochs: int | None = None
    calibration: str | None = None
    replay: str | None = None
    base_dir: str = "."  # files a config reads are relative to the config file; the output is not

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise SweepError(f"sweep {self.name!r}: seeds must be >= 1, got {self.seeds}")
        if self.processes < 1:
            raise SweepError(f"sweep {self.name!r}: processes must be >= 1, got {self.processes}")
        if self.engine not in ENGINES:
            raise SweepError(
                f"sweep {self.name!r}: engine must be one of {', '.join(ENGINES)}, got {self.engine!r}"
            )
        if self.settlement is not None and self.settlement not in SETTLEMENT_MODES:
            raise SweepError(f"sweep {self.name!r}: settlement must be one of {', '.join(SETTLEMENT_MODES)}")
        if not self.scenarios or not self.policies:
            raise SweepError(f"sweep {self.name!r}: give at least one scenario and one policy")
        labels = [variant.label for variant in self.policies]
        if len(set(labels)) != len(labels):
            raise SweepError(f"sweep {self.name!r}: policy labels must be distinct, got {labels}")
        for variant in self.policies:
            try:
                simulation_policy_from_dict(variant.name, variant.params)
            except (TypeError, ValueError) as error:
                raise SweepError(f"sweep {self.name!r}: policy {variant.label!r}: {error}") from None

    @overload
    def resolve(self, path: str) -> str: ...

    @overload
    def resolve(self, path: None) -> None: ...

    def resolve(self, path: str | None) -> str | None:
        if path is None:
            return None
        candidate = Path(path)
        return str(candidate if candidate.is_absolute() else Path(self.base_dir) / candidate)

    @classmethod
    def from_data(
        cls, data: dict[str, Any], *, where: str = "sweep config", base_dir: str = "."
    ) -> SweepConfig:
        if not isinstance(data, dict):
            raise SweepError(f"{where}: expected a mapping of field: value")
        if "base_dir" in data:  # where the file lies, not a setting
            raise SweepError(f"{where}: unknown field(s) base_dir")
        try:
            require_known_fields(cls, data, where=where)
        except ValueError as error:
            raise SweepError(str(error)) from None
        values = dict(data)
        if "scenarios" in values:
            values["scenarios"] = tuple(str(name) for name in values["scenarios"])
        if "policies" in values:
            values["policies"] = tuple(
                _policy_variant(item, f"{where}.policies[{i}]") for i, item in enumerate(values["policies"])
            )
        for name in ("seeds", "root_seed", "processes", "epochs"):
            try:
                optional(require_int)(values.get(name), where=f"{where}.{name}")
            except TypeError as error:
                raise SweepError(str(error)) from None
        try:
            return cls(**values, base_dir=base_dir)
        except TypeError as error:
            raise SweepError(f"{where}: {error}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> SweepConfig:
        import yaml

        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as error:
            raise SweepError(f"{path}: cannot read sweep config: {error}") from None
        return cls.from_data(data, where=str(path), base_dir=str(path.parent))


def _policy_variant(item: Any, where: str) -> PolicyVariant:
    if isinstance(item, str):
        return PolicyVariant(item, item)
    if isinstance(item, dict) and "policy" in item and set(item) <= {"policy", "label", "params"}:
        return PolicyVariant(
            str(item.get("label", item["policy"])), str(item["policy"]), dict(item.get("params") or {})
        )
    raise SweepError(
        f"{where}: a policy is a name, or {{policy: NAME, label: TEXT, params: {{...}}}}; got {item!r}"
    )


def seed_for(root_seed: int, scenario_name: str, seed_index: int) -> tuple[int, tuple[int, ...]]:
    """(entropy, spawn key) of a run's SeedSequence; stable across sweeps that share the root."""
    return root_seed, (zlib.crc32(scenario_name.encode("utf-8")), seed_index)


def build_specs(config: SweepConfig) -> list[RunSpec]:
    """Every run of the sweep, in a fixed order: scenario, then policy, then seed."""
    calibration = None
    if config.calibration is not None:
        from simulator.calibration import load_calibration

        calibration = load_calibration(config.resolve(config.calibration))
    specs = []
    output = str(Path(config.output).resolve())
    for reference in config.scenarios:
        try:
            data = scenario_data(
                config.resolve(reference) if reference.endswith((".yaml", ".yml", ".json")) else reference
            )
            scenario = load_scenario(data)
        except ScenarioError as error:
            raise SweepError(f"sweep {config.name!r}: {error}") from None
        if config.epochs is not None:
            scenario = scenario.with_changes(epochs=config.epochs)
        scenario_dict = scenario.to_data()
        for variant in config.policies:
            for seed_index in range(config.seeds):
                entropy, spawn_key = seed_for(config.root_seed, scenario.name, seed_index)
                specs.append(
                    RunSpec(
                        run_id=f"{scenario.name}__{variant.label}__{seed_index:04d}",
                        scenario=scenario_dict,
                        policy=variant.label,
                        policy_name=variant.name,
                        policy_params=variant.params,
                        seed_index=seed_index,
                        seed_entropy=entropy,
                        seed_spawn_key=spawn_key,
                        engine=config.engine,
                        settlement=config.settlement,
                        calibration=calibration,
                        replay_log=config.resolve(config.replay),
                        out_dir=output,
                    )
                )
    run_ids = [spec.run_id for spec in specs]
    if len(set(run_ids)) != len(run_ids):
        raise SweepError(f"sweep {config.name!r}: two scenarios share a name; run ids must be distinct")
    return specs


class Executor(Protocol):
    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any]) -> Iterator[Any]: ...


def _git_version() -> dict[str, Any]:
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10
        )
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "."], cwd=here, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}
    if commit.returncode != 0:
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit.stdout.strip(), "git_dirty": bool(status.stdout.strip())}


def _versions() -> dict[str, str]:
    import mesa
    import pyarrow
    import scipy

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "mesa": mesa.__version__,
        "pyarrow": pyarrow.__version__,
        "scipy": scipy.__version__,
        **{f"policy.{name}": str(spec.version) for name, spec in SIMULATION_POLICIES.items()},
    }


def manifest(config: SweepConfig, specs: list[RunSpec], timings: dict[str, float]) -> dict[str, Any]:
    from simulator.attribution_model import profile_provenance
    from simulator.calibration import file_sha256

    calibration = None
    if config.calibration is not None:
        path = config.resolve(config.calibration)
        calibration = {"file": Path(path).name, "sha256": file_sha256(path), "data": specs[0].calibration}
    replay = None
    if config.replay is not None:
        path = config.resolve(config.replay)
        replay = {"file": Path(path).name, "sha256": file_sha256(path)}
    return {
        "format": MANIFEST_FORMAT,
        "name": config.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": _git_version(),
        "versions": _versions(),
        "engine": config.engine,
        "settlement": config.settlement or ("grouped" if config.engine == "vectorized" else "per_account"),
        "processes": config.processes,
        "root_seed": config.root_seed,
        "seeds": config.seeds,
        "seed_rule": "SeedSequence(root_seed, spawn_key=(crc32(scenario name), seed_index)); shared by the policies of a scenario",
        "scenarios": {spec.scenario["name"]: spec.scenario for spec in specs},
        "policies": {
            variant.label: {
                "policy": variant.name,
                "version": SIMULATION_POLICIES[variant.name].version,
                "params": params_to_dict(simulation_policy_from_dict(variant.name, variant.params)),
            }
            for variant in config.policies
        },
        "calibration": calibration,
        "replay": replay,
        "attribution_profiles": {
            name: profile_provenance(load_scenario(scenario).attribution_model)
            for name, scenario in {spec.scenario["name"]: spec.scenario for spec in specs}.items()
        },
        "runs": [
            {
                "run_id": spec.run_id,
                "scenario": spec.scenario["name"],
                "policy": spec.policy,
                "seed_index": spec.seed_index,
                "seed_entropy": spec.seed_entropy,
                "seed_spawn_key": list(spec.seed_spawn_key),
                "file": f"runs/{spec.run_id}.parquet",
                "wall_seconds": round(timings.get(spec.run_id, float("nan")), 3),
            }
            for spec in specs
        ],
        "metrics": [dataclasses.asdict(metric) for metric in METRICS],
        "lorenz": {
            "what": "Lorenz curve of contributor accounts' cumulative rewards (emission payouts plus fee "
            "share, before slashes and sales) at the end of each run, exact from the integer totals",
            "grid": list(LORENZ_GRID),
            "groups": LORENZ_GROUPS,
            "columns": [dataclasses.asdict(metric) for metric in LORENZ_METRICS],
        },
        "fairness": {
            "what": "each run's pay of honest contributors against what the oracle (simulator.oracle) would "
            "have paid the same accounts in the same run: each epoch's emission plus the contributors' fee "
            "part, in proportion to true contribution",
            "columns": [dataclasses.asdict(metric) for metric in FAIRNESS_METRICS],
        },
        "money_unit": "micro-OPEN (1 sim unit = 1e-6 OPEN = 1e12 base units)",
        "files": {
            "metrics": "metrics.parquet",
            "runs": "runs.parquet",
            "lorenz": "lorenz.parquet",
            "fairness": "fairness.parquet",
            "per_run": "runs/",
        },
    }


def run_sweep(
    config: SweepConfig,
    *,
    executor: Executor | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Run every run of ``config``; returns the output folder (see the module docstring)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    specs = build_specs(config)
    output = Path(config.output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if executor is not None:
        results = list(executor.map(_timed_run_one, specs))
    elif config.processes == 1:
        results = [_timed_run_one(spec) for spec in specs]
    else:
        with ProcessPoolExecutor(
            max_workers=config.processes, mp_context=_process_context(), initializer=_one_thread_per_worker
        ) as pool:
            results = list(pool.map(_timed_run_one, specs, chunksize=1))
    timings = {spec.run_id: seconds for spec, (_, seconds) in zip(specs, results, strict=True)}
    tables = [
        pq.read_table(path) if isinstance(path, str) else pq.read_table(io.BytesIO(path))
        for path, _ in results
    ]
    lorenz = [
        row
        for spec, table in zip(specs, tables, strict=True)
        for row in lorenz_rows_of(table, where=f"run {spec.run_id}")
    ]
    pq.write_table(lorenz_table(lorenz), output / "lorenz.parquet")
    fairness = [
        row
        for spec, table in zip(specs, tables, strict=True)
        for row in fairness_rows_of(table, where=f"run {spec.run_id}")
    ]
    pq.write_table(fairness_table(fairness), output / "fairness.parquet")
    tables = [table.replace_schema_metadata(None) for table in tables]
    metrics = pa.concat_tables(tables)
    pq.write_table(metrics, output / "metrics.parquet")
    pq.write_table(
        pa.concat_tables([table.slice(table.num_rows - 1) for table in tables]), output / "runs.parquet"
    )
    document = manifest(config, specs, timings)
    document["wall_seconds"] = round(time.perf_counter() - started, 3)
    (output / "manifest.json").write_text(
        json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8"
    )
    if progress is not None:
        progress(f"{len(specs)} runs in {document['wall_seconds']:.1f} s -> {output}")
    return output


def _one_thread_per_worker() -> None:
    """A worker is one of ``processes`` processes sharing the cores, so native thread pools (BLAS,
    OpenMP) get one thread each instead of one per core each, which would oversubscribe the cores.
    The variables reach libraries loaded later; threadpoolctl, where installed, limits those already
    loaded (inherited through fork). The run path itself makes no BLAS call today: a safeguard."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1)


def _process_context() -> Any:
    """Fork where the platform has it: workers start in milliseconds and need no import guard.

    Explicit, because importing mesa (its batchrunner) switches the global default to spawn."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def default_processes() -> int:
    return max(1, (os.cpu_count() or 1))
