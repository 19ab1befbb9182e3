"""Sweeps: reproducible seeds, the same numbers on 1 or 2 processes, Parquet and a manifest."""

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from simulator.attribution_model import default_profile_path
from simulator.cli import main
from simulator.metrics import FAIRNESS_METRICS, LORENZ_GRID, LORENZ_METRICS, METRIC_NAMES, lorenz_column
from simulator.sweep import (
    ID_COLUMNS,
    PolicyVariant,
    RunSpec,
    SweepConfig,
    SweepError,
    build_specs,
    run_one,
    run_sweep,
)

from .conftest import small


def config(tmp_path, name: str, **changes) -> SweepConfig:
    scenario_file = tmp_path / "tiny_sybil.yaml"
    if not scenario_file.exists():
        import yaml

        data = small("sybil_attack", epochs=12, contributors=60).to_data()
        data["name"] = "tiny_sybil"
        data["attacks"][0].update(start_epoch=2, actors=2, accounts_per_actor=4)
        scenario_file.write_text(yaml.safe_dump(data))
    values = {
        "name": name,
        "scenarios": (str(scenario_file),),
        "policies": (
            PolicyVariant("volume", "volume"),
            PolicyVariant("bonded_5x", "attribution_bonded", {"fee_multiple_bps": 50_000}),
        ),
        "seeds": 2,
        "root_seed": 42,
        "output": str(tmp_path / name),
    }
    values.update(changes)
    return SweepConfig(**values)


def test_one_and_two_processes_give_identical_numbers(tmp_path):
    one = run_sweep(config(tmp_path, "one", processes=1))
    two = run_sweep(config(tmp_path, "two", processes=2))
    a, b = pq.read_table(one / "metrics.parquet"), pq.read_table(two / "metrics.parquet")
    assert a.num_rows == 2 * 2 * 12
    assert a.equals(b)


def test_any_executor_gives_the_same_numbers(tmp_path):
    local = run_sweep(config(tmp_path, "local"))
    with ThreadPoolExecutor(2) as threads:  # stands in for a Celery-backed executor
        other = run_sweep(config(tmp_path, "other"), executor=threads)
    assert pq.read_table(local / "metrics.parquet").equals(pq.read_table(other / "metrics.parquet"))
    assert pq.read_table(local / "lorenz.parquet").equals(pq.read_table(other / "lorenz.parquet"))


def test_outputs_and_manifest_record_what_produced_them(tmp_path):
    output = run_sweep(config(tmp_path, "m"))
    metrics = pq.read_table(output / "metrics.parquet")
    assert metrics.column_names == [*ID_COLUMNS, *METRIC_NAMES]
    runs = pq.read_table(output / "runs.parquet")
    assert runs.num_rows == 4 and set(runs.column("epoch").to_pylist()) == {11}
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["format"] == "ledgerloop.simulator.sweep.v3"
    assert manifest["policies"]["bonded_5x"]["params"]["fee_multiple_bps"] == 50_000
    assert (
        manifest["policies"]["bonded_5x"]["params"]["max_cluster_share_bps"] == 1000
    )  # defaults spelled out
    assert manifest["scenarios"]["tiny_sybil"]["attacks"][0]["accounts_per_actor"] == 4
    assert {"numpy", "mesa", "pyarrow", "python"} <= set(manifest["versions"])
    assert "git_commit" in manifest["code"]
    profile = manifest["attribution_profiles"]["tiny_sybil"]
    shipped = default_profile_path()
    assert profile["sha256"] == hashlib.sha256(shipped.read_bytes()).hexdigest()
    recorded = json.loads(shipped.read_text())
    assert profile["method"] == recorded["paid_method"]  # the scenario names none: the paid one
    assert profile["data_sha256"] == recorded["inputs"]["data_sha256"]
    assert profile["seed"] == recorded["inputs"]["seed"]
    seeds = {(run["seed_entropy"], tuple(run["seed_spawn_key"])) for run in manifest["runs"]}
    assert len(seeds) == 2  # one per seed index, shared by both policies
    assert all((output / run["file"]).exists() for run in manifest["runs"])
    assert {metric["name"] for metric in manifest["metrics"]} == set(METRIC_NAMES)
    lorenz = pq.read_table(output / "lorenz.parquet")
    assert lorenz.column_names == [*ID_COLUMNS, *(metric.name for metric in LORENZ_METRICS)]
    assert [column["name"] for column in manifest["lorenz"]["columns"]] == lorenz.column_names[4:]
    assert manifest["lorenz"]["grid"] == list(LORENZ_GRID) and manifest["files"]["lorenz"] == "lorenz.parquet"
    rows = lorenz.to_pylist()
    assert sorted((row["run_id"], row["group"]) for row in rows) == sorted(
        (run["run_id"], group) for run in manifest["runs"] for group in ("honest", "all")
    )
    for row in rows:
        assert row[lorenz_column(0.0)] == 0.0 and row[lorenz_column(1.0)] == 1.0
        # The attack's accounts join everyone's curve, never the honest one.
        if row["group"] == "all":
            honest = next(r for r in rows if r["run_id"] == row["run_id"] and r["group"] == "honest")
            assert row["accounts"] > honest["accounts"] and row["total_rewards"] >= honest["total_rewards"]
    fairness = pq.read_table(output / "fairness.parquet")
    assert fairness.column_names == [*ID_COLUMNS, *(metric.name for metric in FAIRNESS_METRICS)]
    assert [column["name"] for column in manifest["fairness"]["columns"]] == fairness.column_names[4:]
    assert sorted(fairness.column("run_id").to_pylist()) == sorted(run["run_id"] for run in manifest["runs"])
    for row in fairness.to_pylist():
        assert row["honest_accounts"] > 0 and 0 < row["honest_pay_ratio"] <= 1.5
        assert -1 <= row["honest_rank_correlation"] <= 1


def test_the_oracle_runs_in_a_sweep_and_is_the_reference_of_fair_pay(tmp_path):
    output = run_sweep(
        config(
            tmp_path,
            "fair",
            policies=(PolicyVariant("attribution", "attribution"), PolicyVariant("oracle", "oracle")),
        )
    )
    rows = {
        (row["policy"], row["seed_index"]): row
        for row in pq.read_table(output / "fairness.parquet").to_pylist()
    }
    for seed in (0, 1):
        oracle = rows[("oracle", seed)]
        # Same accounts, same truth: the oracle's pay is its own reference, exactly up to rounding.
        assert oracle["honest_rank_correlation"] > 0.99 and abs(oracle["honest_pay_ratio"] - 1) < 1e-6
        assert rows[("attribution", seed)]["honest_rank_correlation"] < oracle["honest_rank_correlation"]
    manifest = json.loads((output / "manifest.json").read_text())
    assert (
        manifest["policies"]["oracle"]["policy"] == "oracle" and manifest["versions"]["policy.oracle"] == "1"
    )


def test_run_one_is_a_pure_function_of_its_spec(tmp_path):
    spec = build_specs(config(tmp_path, "pure"))[1]
    as_data = json.loads(json.dumps(spec.to_dict()))  # what a task queue would carry
    assert RunSpec.from_dict(as_data) == spec
    in_memory = run_one({**as_data, "out_dir": None})
    assert isinstance(in_memory, bytes)
    written = run_one(as_data)
    import io

    assert pq.read_table(io.BytesIO(in_memory)).equals(pq.read_table(written))


class _OlderWorkers:
    """Workers still running code from before runs carried their Lorenz curve."""

    def map(self, fn, specs):
        for spec in specs:
            result, seconds = fn(spec)
            table = pq.read_table(result).replace_schema_metadata(None)
            pq.write_table(table, result)
            yield result, seconds


def test_a_run_file_without_its_lorenz_curve_is_refused_with_the_run_named(tmp_path):
    with pytest.raises(SweepError, match=r"run tiny_sybil__volume__0000: .* no Lorenz curve .* run it again"):
        run_sweep(config(tmp_path, "old", seeds=1), executor=_OlderWorkers())


def test_bad_configs_are_refused_with_the_reason(tmp_path):
    with pytest.raises(SweepError, match="unknown field"):
        SweepConfig.from_data({"name": "x", "seed": 3})
    with pytest.raises(SweepError, match="policy 'volume'"):
        SweepConfig.from_data({"name": "x", "policies": [{"policy": "volume", "params": {"nope": 1}}]})
    with pytest.raises(SweepError, match="engine"):
        SweepConfig.from_data({"name": "x", "engine": "gpu"})
    path = tmp_path / "sweep.yaml"
    path.write_text("name: x\nscenarios: [nowhere]\n")
    with pytest.raises(SweepError, match="unknown scenario 'nowhere'"):
        build_specs(SweepConfig.from_file(path))


def test_sweep_and_run_commands(tmp_path, capsys, monkeypatch):
    cfg = config(tmp_path, "cli")
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "mine.yaml").write_text((tmp_path / "tiny_sybil.yaml").read_text())
    path = folder / "sweep.json"
    # Files the config reads are relative to it; the output folder to where the command runs.
    spec = {"name": "cli", "scenarios": ["mine.yaml"], "policies": ["agreement"], "seeds": 1, "output": "out"}
    path.write_text(json.dumps(spec))
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(path)]) == 0
    assert (tmp_path / "out" / "manifest.json").exists()
    assert (
        main(
            [
                "run",
                "--scenario",
                cfg.scenarios[0],
                "--policy",
                "volume",
                "--seeds",
                "1",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    assert "tiny_sybil / volume" in capsys.readouterr().out


def test_the_standard_sweep_config_is_valid():
    import simulator

    config = SweepConfig.from_file(Path(simulator.__file__).parent / "sweeps" / "standard.yaml")
    assert len(config.scenarios) == 8 and len(config.policies) == 6
    assert {variant.name for variant in config.policies} >= {"attribution_evidence", "oracle"}
    assert len(build_specs(config)) == 8 * 6 * 16


@pytest.mark.parametrize("command", ["run", "calibrate", "sweep", "scenarios"])
def test_every_command_has_help_with_real_examples(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "python -m simulator" in text


def test_python_dash_m_simulator_runs():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "simulator", "scenarios"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "sybil_attack" in result.stdout
