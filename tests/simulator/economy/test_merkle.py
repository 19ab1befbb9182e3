"""Payout Merkle proofs: every payout proves, any change to a proof is caught."""

import copy
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.economy.merkle import (
    EMPTY_ROOT,
    PayoutTree,
    merkle_proof,
    merkle_root,
    payouts_root,
    proof_problem,
    verify_proof,
)

payout_maps = st.dictionaries(
    st.text(min_size=1, max_size=6),
    st.integers(0, 10**6) | st.integers(0, 2**256 - 1),
    min_size=1,
    max_size=40,
)


def spec_leaf(epoch: int, account: str, amount: int) -> bytes:
    """The leaf encoding as documented, written out independently of the module."""
    account_bytes = account.encode("utf-8")
    data = (
        epoch.to_bytes(8, "big")
        + len(account_bytes).to_bytes(2, "big")
        + account_bytes
        + amount.to_bytes(32, "big")
    )
    return hashlib.sha256(b"\x00" + data).digest()


def spec_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def test_root_follows_the_documented_encoding():
    payouts = {"carol": 1, "bob": 5, "alice": 7, "dave": 10**24}
    a, b, c, d = (spec_leaf(3, name, payouts[name]) for name in ("alice", "bob", "carol", "dave"))
    assert payouts_root(3, payouts) == spec_node(spec_node(a, b), spec_node(c, d)).hex()
    # An odd node moves up unchanged; it is not paired with a copy of itself.
    del payouts["dave"]
    assert payouts_root(3, payouts) == spec_node(spec_node(a, b), c).hex()
    assert merkle_root([a, b, c]) == spec_node(spec_node(a, b), c)


def test_root_binds_the_epoch_and_not_the_order_the_payouts_came_in():
    payouts = {"x": 1, "y": 2, "z": 3}
    assert payouts_root(1, payouts) == payouts_root(1, {"z": 3, "x": 1, "y": 2})
    assert payouts_root(1, payouts) != payouts_root(2, payouts)


def test_an_epoch_without_payouts_has_the_empty_root():
    assert payouts_root(5, {}) == EMPTY_ROOT.hex() == hashlib.sha256(b"").hexdigest()


@given(epoch=st.integers(0, 2**64 - 1), payouts=payout_maps)
def test_every_payout_has_a_proof_that_verifies(epoch, payouts):
    tree = PayoutTree(epoch, payouts)
    assert tree.root == payouts_root(epoch, payouts)
    for account in payouts:
        proof = tree.proof(account)
        assert proof["amount"] == str(payouts[account])
        assert verify_proof(proof, expected_root=tree.root), proof_problem(proof, tree.root)
        assert verify_proof(proof)


def _tamperings(proof):
    """Each way a proof can be altered, with a name for the failure message."""
    amount_up = copy.deepcopy(proof)
    amount_up["amount"] = str(int(proof["amount"]) + 1)
    yield "amount", amount_up
    other_account = copy.deepcopy(proof)
    other_account["account"] = proof["account"] + "x"
    yield "account", other_account
    other_epoch = copy.deepcopy(proof)
    other_epoch["epoch"] = proof["epoch"] + 1
    yield "epoch", other_epoch
    for position in range(len(proof["siblings"])):
        sibling = copy.deepcopy(proof)
        flipped = bytearray.fromhex(sibling["siblings"][position])
        flipped[0] ^= 1
        sibling["siblings"][position] = flipped.hex()
        yield f"sibling {position}", sibling
    root = copy.deepcopy(proof)
    root["root"] = ("0" if proof["root"][0] != "0" else "1") + proof["root"][1:]
    yield "root", root
    if proof["leaf_count"] > 1:
        moved = copy.deepcopy(proof)
        moved["leaf_index"] = (proof["leaf_index"] + 1) % proof["leaf_count"]
        yield "leaf_index", moved
    if proof["siblings"]:
        shortened = copy.deepcopy(proof)
        shortened["siblings"].pop()
        yield "one sibling fewer", shortened
    longer = copy.deepcopy(proof)
    longer["siblings"].append("00" * 32)
    yield "one sibling more", longer


@given(epoch=st.integers(0, 10**6), payouts=payout_maps, pick=st.integers(0, 10**6))
def test_any_change_to_a_proof_makes_it_fail(epoch, payouts, pick):
    tree = PayoutTree(epoch, payouts)
    account = sorted(payouts)[pick % len(payouts)]
    proof = tree.proof(account)
    for what, tampered in _tamperings(proof):
        assert not verify_proof(tampered, expected_root=tree.root), f"a changed {what} still verified"
        if what != "root":
            # Without an expected root the proof's own root must still catch it.
            assert not verify_proof(tampered), f"a changed {what} verified against its own root"


def test_a_valid_proof_for_another_root_fails_when_the_published_root_is_given():
    proof = merkle_proof({"ann": 5, "bob": 6}, "ann", epoch=1)
    other_root = payouts_root(1, {"ann": 6, "bob": 5})
    assert verify_proof(proof)
    assert "not the expected root" in proof_problem(proof, expected_root=other_root)
    assert verify_proof(proof, expected_root="0x" + proof["root"])
    assert not verify_proof(proof, expected_root=bytes.fromhex(proof["root"]))  # hex text only


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"format": "v0"}, "format"),
        ({"amount": 5}, "amount must be a string of decimal digits"),
        ({"amount": "-5"}, "amount must be a string of decimal digits"),
        ({"siblings": ["zz"]}, "malformed proof"),
        ({"siblings": ["00"]}, "32-byte"),
        ({"leaf_index": 7}, "leaf_index"),
    ],
)
def test_malformed_proofs_fail_with_a_reason(change, problem):
    proof = {**merkle_proof({"ann": 5, "bob": 6}, "ann", epoch=1), **change}
    assert problem in proof_problem(proof)
    assert not verify_proof(proof)


def test_a_proof_with_a_missing_field_fails_naming_it():
    proof = merkle_proof({"ann": 5}, "ann", epoch=1)
    del proof["root"]
    assert proof_problem(proof) == "field 'root' is missing"


def test_bad_payouts_are_refused_naming_the_account():
    with pytest.raises(ValueError, match=r"payouts\['bob'\]"):
        payouts_root(1, {"ann": 1, "bob": -1})
    with pytest.raises(TypeError, match=r"payouts\['bob'\]"):
        payouts_root(1, {"ann": 1, "bob": 1.0})
    with pytest.raises(TypeError, match="payouts key"):
        payouts_root(1, {"ann": 1, 7: 1})
    with pytest.raises(KeyError, match="no payout"):
        merkle_proof({"ann": 1}, "bob", epoch=1)


def test_a_large_epoch_proves_any_of_its_accounts():
    payouts = {f"acct-{i:06d}": i * 10**15 + 1 for i in range(20_001)}
    tree = PayoutTree(9, payouts)
    for account in ("acct-000000", "acct-012345", "acct-020000"):
        assert verify_proof(tree.proof(account), expected_root=tree.root)
    assert len(tree.proof("acct-020000")["siblings"]) <= 15
