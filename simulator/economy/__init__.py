"""The OPEN token economy, in pure Python: the same code settles real epochs and runs in the simulator.

Money is always an int of base units (1 OPEN = 10**18), never a float; every split uses
largest-remainder rounding, so what is paid plus what is carried over equals the budget exactly.
Only the standard library and numpy are used; nothing here knows about Django or models.

Units (:mod:`.units`)
    BASE_UNITS_PER_OPEN = 10**18
    open_to_base_units(amount: int | str | Decimal) -> int          # "1.5" -> 1.5e18, exactly
    base_units_to_open(base_units: int) -> str                       # exact decimal text
    largest_remainder_split(total: int, weights: Mapping[K, int | Fraction | Decimal]) -> dict[K, int]
    split_by_integer_weights(total: int, keys: Sequence[K], weights: Sequence[int] | ndarray) -> list[int]

Schedule (:mod:`.schedule`): 1,000,000,000 OPEN, no mint; 61.71% community, 18.29% investors,
15% team, 5% liquidity; community emitted linearly over 48 months of 30 daily epochs.
    ScheduleParams(...)                                  # frozen, validated, published defaults
    allocation_amounts(params) -> dict[Allocation, int]
    emission_for_epoch(params, epoch: int) -> int        # the epoch's emission budget
    unlocked_at(params, *, epoch=None, month=None) -> dict[Allocation, int]
    schedule_by_month(params) -> list[MonthSummary]

Epoch settlement (:mod:`.epoch`, :mod:`.policies`, :mod:`.weights`)
    EpochInputs(budget, fees_collected, epoch, judgment_counts, agreement_rates,
                attribution_scores, bonds, flagged, clusters, standing)
    EpochResult(payouts, slashes, carry_over, explanation, fee_weights, standing)
    Standing(evidence, judgments, credited)   # what attribution_evidence remembers per account
    POLICIES: dict[str, PolicySpec]    # "volume", "agreement", "attribution", "attribution_bonded",
                                       # "attribution_evidence" (:mod:`.evidence`: pay by evidence)
    PolicyParams.fee_split() -> FeeSplitParams; PolicyParams.too_fast_bps  # money rules every policy shares
    run_policy(params, inputs: EpochInputs) -> EpochResult
    explain_account(explanation, account, payout) -> list[str]   # plain words for an earnings page
    policy_from_dict(name: str, params_dict: Mapping) -> PolicyParams   # governance JSON -> params
    params_to_dict(params) -> dict
    volume_policy / agreement_policy / attribution_policy / attribution_bonded_policy(params, inputs)

Fees (:mod:`.fees`)
    split_fee(fee, *, contributor_weights (EpochResult.fee_weights) | attribution_scores, stakes,
              model_owner, params=policy.fee_split()) -> FeeSplit

Merkle proofs of payouts (:mod:`.merkle`)
    payouts_root(epoch: int, payouts: Mapping[str, int]) -> str          # hex
    PayoutTree(epoch, payouts).root / .proof(account) -> dict            # many proofs, one tree
    merkle_proof(payouts, account, *, epoch) -> dict                     # JSON-ready
    verify_proof(proof: Mapping, expected_root: str | None = None) -> bool
    proof_problem(proof, expected_root=None) -> str | None               # why a proof fails
    merkle_root(leaf_hashes: Sequence[bytes]) -> bytes; leaf_hash(epoch, account, amount) -> bytes

Command line: ``python -m simulator.economy {verify-proof,schedule,proof,root} --help``.
"""
