"""Epoch settlement: conservation, carry-over, refusals that leave the ledger unchanged, policies
from governance, slashes, the fee split, and the vesting of the team and investor allocations."""

import pytest
from django.core.management import CommandError, call_command

from feedback_site.ledger import errors, selectors, services
from feedback_site.ledger.models import EntryKind, EpochSettlement, LedgerEntry
from feedback_site.ledger.settlement import epoch_settle
from feedback_site.ledger.tasks import settle_epoch
from feedback_site.ledger.verification import ledger_verify
from simulator.economy.fees import FeeSplitParams
from simulator.economy.merkle import payouts_root
from simulator.economy.policies import VolumeParams, params_to_dict
from simulator.economy.schedule import (
    Allocation,
    ScheduleParams,
    allocation_amounts,
    emission_for_epoch,
    unlocked_at,
)

from .conftest import MONTHLY, OPEN, TEAM, balance_of, ledger_state, settle_empty, wallet_balance

SCHEDULE = ScheduleParams()


def test_genesis_creates_the_supply_once(genesis):
    before = ledger_state()
    assert services.ledger_genesis() is False
    assert ledger_state() == before
    amounts = allocation_amounts(SCHEDULE)
    assert balance_of("community_pool") == amounts[Allocation.COMMUNITY]
    assert balance_of("allocation:liquidity") == amounts[Allocation.LIQUIDITY]
    report = ledger_verify()
    assert report.ok, report.problems
    assert report.balances_total == SCHEDULE.total_supply == 10**27


def test_settlement_pays_by_attribution_and_conserves_the_supply(genesis, make_person, attribute):
    alice, bob, carol = make_person("alice"), make_person("bob"), make_person("carol")
    attribute(0, {alice: 2.0, bob: 1.0, carol: -0.5})
    settlement = epoch_settle(epoch=0)

    budget = emission_for_epoch(SCHEDULE, 0)
    assert settlement.emission == settlement.budget == budget and settlement.carried_in == 0
    paid = {user.username: wallet_balance(user) for user in (alice, bob)}
    assert paid["alice"] + paid["bob"] == settlement.paid == budget  # nothing withheld: no cap
    assert abs(paid["alice"] - 2 * paid["bob"]) <= 2  # 2:1, give or take the largest-remainder unit
    assert wallet_balance(carol) == 0  # her wallet exists (created in bulk), with nothing in it
    assert selectors.wallet_for(contributor=carol.contributor).user == carol
    assert settlement.carry_over == 0 and settlement.payout_count == 2 and settlement.contributors == 3
    assert balance_of("community_pool") == allocation_amounts(SCHEDULE)[Allocation.COMMUNITY] - budget
    assert settlement.payouts_root == payouts_root(0, selectors.epoch_payouts(epoch=0))
    record = LedgerEntry.objects.get(id=settlement.last_entry_id)
    assert record.kind == EntryKind.EPOCH_SETTLED and settlement.payouts_root in record.memo
    report = ledger_verify()
    assert report.ok, report.problems
    assert report.balances_total == SCHEDULE.total_supply and report.epochs == 1


def test_what_is_not_paid_is_carried_into_the_next_budget(genesis, make_person, attribute):
    alice, bob = make_person("alice"), make_person("bob")
    services.policy_activate(name="attribution", params={"max_contributor_share_bps": 1000}, activates_at_epoch=0)
    attribute(0, {alice: 1.0, bob: 1.0})
    first = epoch_settle(epoch=0)
    assert first.paid == 2 * (first.budget // 10) and first.carry_over == first.budget - first.paid
    assert balance_of("system:epoch_rewards") == first.carry_over
    assert first.explanation["policy"]["withheld"]["contributor_cap"] == first.carry_over

    attribute(1, {alice: 1.0})
    second = epoch_settle(epoch=1)
    assert second.carried_in == first.carry_over
    assert second.budget == emission_for_epoch(SCHEDULE, 1) + first.carry_over
    assert balance_of("system:epoch_rewards") == second.carry_over
    assert ledger_verify().ok


def test_settling_twice_is_refused_and_changes_nothing(genesis, make_person, attribute):
    alice = make_person("alice")
    attribute(0, {alice: 1.0})
    epoch_settle(epoch=0)
    before = ledger_state()
    with pytest.raises(errors.EpochAlreadySettled, match="epoch 0 was already settled"):
        epoch_settle(epoch=0)
    with pytest.raises(CommandError, match="already settled"):
        call_command("settle_epoch", "0")
    assert ledger_state() == before and EpochSettlement.objects.count() == 1


def test_missing_attribution_is_refused_with_the_ledger_unchanged(genesis, make_person, attribute):
    before = ledger_state()
    with pytest.raises(errors.MissingAttribution, match="epoch 0: no attribution scores yet"):
        epoch_settle(epoch=0)
    with pytest.raises(CommandError, match="the ledger is unchanged: epoch 0: no attribution"):
        call_command("settle_epoch", "0")
    assert ledger_state() == before and not EpochSettlement.objects.exists()
    assert settle_epoch.apply().get() is None  # the periodic task waits for the attribution job


def test_epochs_settle_in_order(genesis, make_person, attribute):
    attribute(1, {make_person("alice"): 1.0})
    with pytest.raises(errors.EpochOutOfOrder, match="the next one to settle is 0"):
        epoch_settle(epoch=1)


def test_no_settlement_before_genesis(db):
    with pytest.raises(errors.GenesisMissing, match="ledger_genesis"):
        epoch_settle(epoch=0, allow_empty=True)


def test_an_empty_epoch_carries_the_whole_budget_when_allowed(genesis):
    settlement = epoch_settle(epoch=0, allow_empty=True)
    assert settlement.paid == 0 and settlement.carry_over == settlement.budget == emission_for_epoch(SCHEDULE, 0)
    assert settlement.payouts_root == payouts_root(0, {})


def test_flagged_contributors_earn_nothing(genesis, make_person, attribute):
    alice, mallory = make_person("alice"), make_person("mallory")
    attribute(0, {alice: 1.0, mallory: 5.0}, flagged=(mallory,))
    settlement = epoch_settle(epoch=0)
    assert wallet_balance(alice) == settlement.budget
    assert selectors.epoch_payouts(epoch=0) == {selectors.wallet_key(alice.contributor.pseudonym): settlement.budget}


def test_a_policy_change_applies_from_its_epoch_and_is_in_the_chain(genesis, make_person, attribute):
    alice, bob = make_person("alice"), make_person("bob")
    version = services.policy_activate(name="volume", params={}, activates_at_epoch=1)
    assert version.params == params_to_dict(VolumeParams())  # defaults filled in
    assert version.params["max_contributor_share_bps"] == 10000 and version.params["fee_contributors_bps"] == 5000
    assert LedgerEntry.objects.get(id=version.entry_id).kind == EntryKind.POLICY_CHANGE
    attribute(0, {alice: 1.0, bob: 0.0}, judgments=5)
    assert epoch_settle(epoch=0).policy_name == "attribution"  # the default until epoch 1
    attribute(1, {alice: 1.0, bob: 0.0}, judgments=5)
    second = epoch_settle(epoch=1)
    assert second.policy_name == "volume" and second.policy_version == version
    half = second.budget // 2  # bob earns by volume what attribution gave him nothing for
    assert sorted(selectors.epoch_payouts(epoch=1).values()) == [half, second.budget - half]
    with pytest.raises(errors.PolicyRejected, match="epoch 1 is already settled"):
        services.policy_activate(name="volume", params={}, activates_at_epoch=1)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("lottery", {}, "unknown policy 'lottery'"),
        ("attribution", {"bonus": 1}, "unknown field 'bonus'"),
        ("attribution", {"max_contributor_share_bps": 20000}, "max_contributor_share_bps"),
        ("attribution", [1, 2], "parameters must be an object"),
    ],
)
def test_bad_policies_are_refused(genesis, name, params, message):
    before = ledger_state()
    with pytest.raises(errors.PolicyRejected, match=message):
        services.policy_activate(name=name, params=params, activates_at_epoch=0)
    assert ledger_state() == before


def test_bonded_policy_slashes_stake_of_harmful_contributors(genesis, make_person, attribute, fund):
    good, harmful = make_person("good"), make_person("harmful")
    fund(harmful, 1000)
    services.stake_add(contributor=harmful.contributor, amount=1000 * OPEN)
    services.policy_activate(
        name="attribution_bonded",
        params={"slash_rate_bps": 5000, "fee_multiple_bps": None, "max_cluster_share_bps": 10000},
        activates_at_epoch=0,
    )
    attribute(0, {good: 2.0, harmful: -2.0})
    settlement = epoch_settle(epoch=0)
    assert settlement.slashed == 500 * OPEN  # the largest harm: half the bond
    assert selectors.stake_at(account=selectors.wallet_for(contributor=harmful.contributor)) == 500 * OPEN
    assert balance_of("treasury") == 500 * OPEN
    assert wallet_balance(good) == settlement.budget
    assert ledger_verify().ok


def test_fees_are_split_at_settlement(genesis, make_person, attribute, fund):
    alice, bob, owner, buyer, staker = (make_person(n) for n in ("alice", "bob", "owner", "buyer", "staker"))
    services.model_register(model_id="rm-v1", owner=owner)
    consumer = services.consumer_account_open(user=buyer)
    services.ledger_transfer(source_key="allocation:liquidity", destination_key=consumer.key, amount=1000 * OPEN)
    fund(staker, 100)
    services.stake_add(contributor=staker.contributor, amount=100 * OPEN)
    services.fee_record(user=buyer, request_id="r1", model_id="rm-v1", calls=10, fee=700 * OPEN)
    services.fee_record(user=buyer, request_id="r2", model_id="rm-v1", calls=5, fee=300 * OPEN)
    assert balance_of("system:fee_escrow") == 1000 * OPEN

    attribute(0, {alice: 2.0, bob: 1.0})
    settlement = epoch_settle(epoch=0)
    split = FeeSplitParams()
    assert settlement.fees_collected == 1000 * OPEN
    assert balance_of("system:fee_escrow") == 0
    assert balance_of(f"model_owner:{owner.contributor.pseudonym}") == 1000 * OPEN * split.model_owner_bps // 10000
    assert balance_of("treasury") == 1000 * OPEN * split.treasury_bps // 10000
    assert wallet_balance(staker) == 1000 * OPEN * split.stakers_bps // 10000  # the only staker
    contributors_part = 1000 * OPEN * split.contributors_bps // 10000
    emission_paid = selectors.epoch_payouts(epoch=0)
    assert wallet_balance(alice) - emission_paid[selectors.wallet_key(alice.contributor.pseudonym)] - contributors_part * 2 // 3 in (0, 1)
    assert ledger_verify().ok


def test_a_served_versions_fees_go_to_its_own_contributors_by_its_attribution(genesis, make_person, attribute):
    """Version A was attributed in epoch 0 (carol 3, dave 1); epoch 1's attribution is another model's
    (erin, and dave flagged). A's fees in epoch 1 go to A's contributors, a flagged one excepted; the
    fees of a model that is no served version follow the epoch's own attribution."""
    from feedback_site.ledger.epoch_inputs import epoch_inputs_record
    from feedback_site.ledger.models import EpochSettlement
    from tests.feedback_site.ledger.conftest import model_version_make, quality_report_make

    carol, dave, erin, owner, buyer = (make_person(n) for n in ("carol", "dave", "erin", "owner", "buyer"))
    served = model_version_make("rm-served")
    epoch_inputs_record(epoch=0, source="attribution", model_version=served,
                        rows=[{"contributor": carol.contributor, "score": 3.0, "judgments": 5},
                              {"contributor": dave.contributor, "score": 1.0, "judgments": 5}])
    epoch_settle(epoch=0)
    services.model_register(model_id="served", owner=owner, model_version=served)
    services.model_register(model_id="plain", owner=owner)
    consumer = services.consumer_account_open(user=buyer)
    services.ledger_transfer(source_key="allocation:liquidity", destination_key=consumer.key, amount=3000 * OPEN)
    services.fee_record(user=buyer, request_id="a", model_id="served", calls=1, fee=1000 * OPEN)
    services.fee_record(user=buyer, request_id="b", model_id="plain", calls=1, fee=1000 * OPEN)
    attribute(1, {erin: 1.0})
    before = {p: wallet_balance(p) for p in (carol, dave)}
    settlement = epoch_settle(epoch=1)
    contributors_part = 1000 * OPEN * FeeSplitParams().contributors_bps // 10000
    payouts = selectors.epoch_payouts(epoch=1)
    gained = {p: wallet_balance(p) - before[p] for p in (carol, dave)}
    assert gained[carol] + gained[dave] == contributors_part  # all of the served version's part, none of plain's
    assert gained[carol] / gained[dave] == pytest.approx(3.0, rel=1e-9)  # by A's scores, 3 to 1 (on the weights' grid)
    erin_fees = wallet_balance(erin) - payouts[selectors.wallet_key(erin.contributor.pseudonym)]
    assert erin_fees == contributors_part  # the plain model's part: the epoch's attribution
    by_model = selectors.wallet_summary(contributor=carol.contributor).fee_shares_by_model
    assert by_model == [("served", "rm-served", gained[carol])]  # the earnings page names the version that paid
    explained = {row["model"]: row["contributors_weighted_by"] for row in settlement.explanation["fees"]}
    assert explained == {"plain": "the epoch's attribution", "served": "the model version's own attribution"}
    assert ledger_verify().ok

    # A flag in the epoch of the fee still means no pay, for a version's contributors too.
    services.fee_record(user=buyer, request_id="c", model_id="served", calls=1, fee=1000 * OPEN)
    epoch_inputs_record(epoch=2, source="attribution", model_version=model_version_make("rm-other"),
                        rows=[{"contributor": erin.contributor, "score": 1.0, "judgments": 5}])
    epoch_inputs_record(epoch=2, source="quality", quality_report=quality_report_make(served.job.snapshot.datanet),
                        rows=[{"contributor": dave.contributor, "flagged": True, "agreement": None, "flags": ["too_fast"]}])
    before = {p: wallet_balance(p) for p in (carol, dave)}
    epoch_settle(epoch=2)
    assert wallet_balance(dave) == before[dave]
    assert wallet_balance(carol) - before[carol] == contributors_part
    assert EpochSettlement.objects.count() == 3 and ledger_verify().ok


def test_command_and_task_settle(genesis, make_person, attribute, capsys):
    attribute(0, {make_person("alice"): 1.0})
    call_command("settle_epoch", "0")
    assert "Epoch 0 settled with attribution" in capsys.readouterr().out
    assert settle_epoch.apply(args=[0]).get() == EpochSettlement.objects.get(epoch=0).id  # twice is safe
    attribute(1, {make_person("bob"): 1.0})
    assert settle_epoch.apply().get() == EpochSettlement.objects.get(epoch=1).id  # the next one


def test_entries_of_a_settlement_are_one_block(genesis, make_person, attribute):
    people = [make_person(f"p{i}") for i in range(30)]
    attribute(0, {p: float(i + 1) for i, p in enumerate(people)})
    settlement = epoch_settle(epoch=0)
    kinds = list(
        LedgerEntry.objects.filter(id__gte=settlement.first_entry_id, id__lte=settlement.last_entry_id)
        .order_by("id")
        .values_list("kind", flat=True)
    )
    assert kinds == ["emission"] + ["payout"] * 30 + ["epoch_settled"]


# --- vesting: the team and investor allocations pay out only what the schedule has unlocked ----


def locked_state(*keys: str) -> tuple:
    return ledger_state(), [balance_of(key) for key in keys]


@pytest.mark.parametrize("source, allocation", [(TEAM, Allocation.TEAM), ("allocation:investors", Allocation.INVESTORS)])
def test_vesting_allocations_are_locked_until_the_cliff_ends(monthly_genesis, source, allocation):
    settle_empty(12)  # the cliff's last epoch is settled: still nothing unlocked
    before = locked_state(source, "treasury")
    assert before[1][0] == allocation_amounts(MONTHLY)[allocation]
    with pytest.raises(errors.AllocationLocked) as refused:
        services.ledger_transfer(source_key=source, destination_key="treasury", amount=1)
    message = refused.value.message
    assert f"amount: {source} vests on the genesis schedule (12-month cliff, then linear over 36 months)" in message
    assert "after 12 settled epochs 0 OPEN (0 base units) is unlocked and 0 OPEN (0 base units) has already moved out" in message
    assert "not 0.000000000000000001 OPEN (1 base units)" in message
    assert "nothing unlocks before epoch 12 is settled, then a share with each epoch until epoch 47" in message
    assert locked_state(source, "treasury") == before
    with pytest.raises(CommandError, match=f"nothing transferred: amount: {source} vests"):
        call_command("ledger_transfer", source, "treasury", "1")
    assert locked_state(source, "treasury") == before


def test_exactly_what_has_vested_can_move_and_not_one_base_unit_more(monthly_genesis):
    settle_empty(21)  # 9 of the 36 vesting months have passed
    unlocked = allocation_amounts(MONTHLY)[Allocation.TEAM] * 9 // 36
    assert unlocked == unlocked_at(MONTHLY, epoch=21)[Allocation.TEAM] > 0
    before = locked_state(TEAM, "treasury")
    with pytest.raises(errors.AllocationLocked, match=rf"so at most .* \({unlocked} base units\) can move now"):
        services.ledger_transfer(source_key=TEAM, destination_key="treasury", amount=unlocked + 1)
    assert locked_state(TEAM, "treasury") == before
    services.ledger_transfer(source_key=TEAM, destination_key="treasury", amount=unlocked)
    assert balance_of("treasury") == unlocked
    assert balance_of(TEAM) == allocation_amounts(MONTHLY)[Allocation.TEAM] - unlocked
    assert ledger_verify().ok


def test_the_sum_of_earlier_transfers_counts_against_what_has_vested(monthly_genesis):
    settle_empty(13)  # 1 of 36 vesting months
    unlocked = unlocked_at(MONTHLY, epoch=13)[Allocation.TEAM]
    part = unlocked * 2 // 5
    services.ledger_transfer(source_key=TEAM, destination_key="treasury", amount=part)
    services.ledger_transfer(source_key=TEAM, destination_key="allocation:liquidity", amount=part)
    before = locked_state(TEAM, "treasury", "allocation:liquidity")
    # A third transfer of the same size is within the unlocked amount on its own, not with the other two.
    with pytest.raises(errors.AllocationLocked, match=rf"\({2 * part} base units\) has already moved out"):
        services.ledger_transfer(source_key=TEAM, destination_key="treasury", amount=part)
    assert locked_state(TEAM, "treasury", "allocation:liquidity") == before
    services.ledger_transfer(source_key=TEAM, destination_key="treasury", amount=unlocked - 2 * part)
    with pytest.raises(errors.AllocationLocked, match="a further share unlocks as each epoch is settled, the last with epoch 47"):
        services.ledger_transfer(source_key=TEAM, destination_key="treasury", amount=1)
    settle_empty(1)  # the next epoch's share, and only it, becomes available
    share = unlocked_at(MONTHLY, epoch=14)[Allocation.TEAM] - unlocked
    with pytest.raises(errors.AllocationLocked):
        services.ledger_transfer(source_key=TEAM, destination_key="treasury", amount=share + 1)
    services.ledger_transfer(source_key=TEAM, destination_key="treasury", amount=share)
    assert selectors.account_debited(account=selectors.account_by_key(key=TEAM)) == unlocked + share


def test_liquidity_moves_freely_at_genesis(genesis):
    liquidity = allocation_amounts(SCHEDULE)[Allocation.LIQUIDITY]
    services.ledger_transfer(source_key="allocation:liquidity", destination_key="treasury", amount=liquidity)
    assert balance_of("treasury") == liquidity and balance_of("allocation:liquidity") == 0
