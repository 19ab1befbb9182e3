"""Ledgerloop's simulator: the OPEN token economy under agents, attacks and shocks.

Pure Python + numpy + Mesa 3.3 (+ scipy for calibration fits, pyarrow for Parquet); it never
imports Django, torch or ``rlhf``. The economy itself (:mod:`simulator.economy`) is the same code
that settles real epochs; the model calls it every epoch.

Command line (``python -m simulator --help`` for examples):
    python -m simulator run --scenario NAME --policy NAME --seeds N --out DIR
    python -m simulator calibrate LOG --out PARAMS
    python -m simulator sweep CONFIG
    python -m simulator scenarios

Public API:
    scenarios.load_scenario(name_or_path_or_data) -> params.Scenario     # scenarios/*.yaml
    scenarios.scenario_names() -> list[str]
    model.make_model(engine, scenario, policy_params, *, seed, settlement_mode=None, replay=None)
        -> LedgerloopModel (a mesa.Model); .run() -> {metric: [value per epoch]}
        engines: "vectorized" (numpy populations, default) and "reference" (one agent per person)
    metrics.METRICS                                  # column name, dtype, unit, description
    sweep.SweepConfig.from_file(path) / SweepConfig(...)
    sweep.run_sweep(config, *, executor=None) -> Path   # manifest.json, metrics.parquet, runs.parquet,
                                                        # lorenz.parquet (end-of-run Lorenz curves),
                                                        # fairness.parquet (pay against the oracle), runs/
    sweep.RunSpec; sweep.run_one(spec | dict) -> str (Parquet path) | bytes   # for any executor (Celery)
    calibration.calibrate(log_path, *, too_fast_bps=3500) -> dict; save_calibration / load_calibration
    calibration.apply_calibration(scenario, calibration) -> Scenario
    replay.ReplayLog.from_file(log_path)              # real contributors drive a vectorized run
    synthetic_log.synthetic_log_rows(SyntheticLogParams(...), seed) -> (rows, truth)
    settlement.settle(policy_params, work, *, budget, fees, epoch, stakes, mode) -> Settlement
    attribution_model.attribution_figures(AttributionModelParams()) -> AttributionFigures
                                                      # measured figures (data/attribution_profile.json)
    attribution_model.load_profile(path=None) -> dict  # raises AttributionProfileError naming file, field
    attribution_model.profile_provenance(AttributionModelParams()) -> dict  # sha256, inputs: for manifests

Money in the simulator is int64 "sim units" of 1 micro-OPEN (:mod:`simulator.accounting`), and
``supply == circulating + locked + staked + treasury + pool`` is checked exactly every epoch.
"""
