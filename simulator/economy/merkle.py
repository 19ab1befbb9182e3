"""A Merkle tree over one epoch's payouts, so anyone can check their own payout against the root.

Settlement publishes one root per epoch; a contributor gets a small proof (JSON) and checks it
with :func:`verify_proof` or ``python -m simulator.economy verify-proof``, trusting nobody.

Encoding (fixed; a verifier in another language must do exactly this):
- leaf data = epoch as 8-byte big-endian unsigned || length of the UTF-8 account id as 2-byte
  big-endian || the UTF-8 account id || amount in base units as 32-byte big-endian unsigned
  (a uint256, as on an EVM chain);
- leaf hash = sha256(0x00 || leaf data); inner node = sha256(0x01 || left || right). The two
  prefixes keep a leaf from ever passing for an inner node (second-preimage safety);
- leaves are ordered by account id (code point order, which is also UTF-8 byte order);
- each level pairs neighbours left to right; an odd last node moves up unchanged (it is not
  hashed with itself, which would let two different leaf lists share a root);
- the root of an epoch without payouts is sha256 of nothing.

A proof carries ``leaf_index`` and ``leaf_count``; from them the verifier knows at each level
whether the sibling is on the left, on the right, or absent (the node moved up).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

from simulator.economy.fields import all_exactly, require_account_id, require_int

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
PROOF_FORMAT = "ledgerloop-payout-proof/1"
EMPTY_ROOT = hashlib.sha256(b"").digest()
_AMOUNT_BYTES = 32
_EPOCH_BYTES = 8
_ACCOUNT_LENGTH_BYTES = 2
_MAX_ACCOUNT_BYTES = 2 ** (8 * _ACCOUNT_LENGTH_BYTES)


def leaf_hash(epoch: int, account: str, amount: int) -> bytes:
    """sha256(0x00 || epoch || len(account) || account || amount), see the module docstring."""
    return _leaf_hashes(epoch, [account], [amount])[0]


def _leaf_hashes(epoch: int, accounts: Sequence[str], amounts: Sequence[int]) -> list[bytes]:
    # One loop for all leaves, no call per leaf: it runs a million times for a large epoch.
    sha256 = hashlib.sha256
    head = LEAF_PREFIX + epoch.to_bytes(_EPOCH_BYTES, "big")
    leaves = []
    for account, amount in zip(accounts, amounts, strict=True):
        account_bytes = account.encode("utf-8")
        leaves.append(
            sha256(
                head
                + len(account_bytes).to_bytes(_ACCOUNT_LENGTH_BYTES, "big")
                + account_bytes
                + amount.to_bytes(_AMOUNT_BYTES, "big")
            ).digest()
        )
    return leaves


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    sha256 = hashlib.sha256
    parents = [sha256(NODE_PREFIX + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        parents.append(level[-1])  # the odd node moves up unchanged
    return parents


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Root of the tree over ``leaves`` (leaf hashes, in order), level by level."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def _validated_payouts(epoch: int, payouts: Mapping[str, int]) -> list[str]:
    require_int(epoch, where="epoch", minimum=0, maximum=2 ** (8 * _EPOCH_BYTES) - 1)
    if not isinstance(payouts, Mapping):
        raise TypeError(f"payouts: expected a mapping of account id to amount, got {type(payouts).__name__}")
    amounts = payouts.values()
    if not (
        all_exactly(amounts, int)
        and (not amounts or 0 <= min(amounts) <= max(amounts) < 2 ** (8 * _AMOUNT_BYTES))
    ):
        for account, amount in payouts.items():
            require_int(
                amount, where=f"payouts[{account!r}]", minimum=0, maximum=2 ** (8 * _AMOUNT_BYTES) - 1
            )
    # A UTF-8 character is at most 4 bytes: below this many characters the length always fits.
    if not (
        all_exactly(payouts, str)
        and (not payouts or 0 < min(map(len, payouts)) <= max(map(len, payouts)) < _MAX_ACCOUNT_BYTES // 4)
    ):
        for account in payouts:
            require_account_id(account, where="payouts key")
            if len(account.encode("utf-8")) >= _MAX_ACCOUNT_BYTES:
                raise ValueError(
                    f"payouts key {account[:40]!r}...: longer than {_MAX_ACCOUNT_BYTES - 1} UTF-8 bytes"
                )
    return sorted(payouts)


def _payout_leaves(epoch: int, accounts: list[str], payouts: Mapping[str, int]) -> list[bytes]:
    return _leaf_hashes(epoch, accounts, list(map(payouts.__getitem__, accounts)))


def payouts_root(epoch: int, payouts: Mapping[str, int]) -> str:
    """Hex Merkle root of one epoch's payouts (account id -> base units)."""
    accounts = _validated_payouts(epoch, payouts)
    return merkle_root(_payout_leaves(epoch, accounts, payouts)).hex()


class PayoutTree:
    """The whole tree of one epoch, kept to hand out a proof to every account."""

    def __init__(self, epoch: int, payouts: Mapping[str, int]) -> None:
        self.epoch = epoch
        self.payouts = payouts
        self.accounts = _validated_payouts(epoch, payouts)
        self._index = {account: index for index, account in enumerate(self.accounts)}
        self.levels = [_payout_leaves(epoch, self.accounts, payouts)]
        while len(self.levels[-1]) > 1:
            self.levels.append(_next_level(self.levels[-1]))

    @property
    def root(self) -> str:
        return (self.levels[-1][0] if self.levels[-1] else EMPTY_ROOT).hex()

    def proof(self, account: str) -> dict[str, Any]:
        """The JSON-ready proof that ``account`` was paid its amount in this epoch."""
        if account not in self._index:
            raise KeyError(f"account {account!r} has no payout in epoch {self.epoch}")
        index = leaf_index = self._index[account]
        siblings = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                siblings.append(level[sibling].hex())
            index //= 2
        return {
            "format": PROOF_FORMAT,
            "epoch": self.epoch,
            "account": account,
            "amount": str(self.payouts[account]),
            "leaf_index": leaf_index,
            "leaf_count": len(self.accounts),
            "leaf": self.levels[0][leaf_index].hex(),
            "siblings": siblings,
            "root": self.root,
        }


def merkle_proof(payouts: Mapping[str, int], account: str, *, epoch: int) -> dict[str, Any]:
    """Proof for one account. The amount is a decimal string, so JSON readers whose numbers are
    doubles do not round it. To prove many accounts, build one :class:`PayoutTree` instead."""
    return PayoutTree(epoch, payouts).proof(account)


def proof_problem(proof: Any, expected_root: str | None = None) -> str | None:
    """None if ``proof`` is valid (and its root is ``expected_root``, when given); otherwise what
    is wrong with it, in words."""
    if not isinstance(proof, Mapping):
        return f"a proof is a JSON object, got {type(proof).__name__}"
    if proof.get("format") != PROOF_FORMAT:
        return f"format is {proof.get('format')!r}, expected {PROOF_FORMAT!r}"
    try:
        epoch = require_int(proof["epoch"], where="epoch", minimum=0, maximum=2 ** (8 * _EPOCH_BYTES) - 1)
        account = require_account_id(proof["account"], where="account")
        amount_text = proof["amount"]
        if not (isinstance(amount_text, str) and amount_text.isdigit() and amount_text.isascii()):
            return f"amount must be a string of decimal digits, got {amount_text!r}"
        amount = require_int(int(amount_text), where="amount", maximum=2 ** (8 * _AMOUNT_BYTES) - 1)
        leaf_count = require_int(proof["leaf_count"], where="leaf_count", minimum=1)
        index = require_int(proof["leaf_index"], where="leaf_index", minimum=0, maximum=leaf_count - 1)
        siblings = [bytes.fromhex(s) for s in proof["siblings"]]
        claimed_root = bytes.fromhex(proof["root"])
        # Untrusted input: the annotation says what is expected, this says what came.
        if expected_root is not None and not isinstance(cast(object, expected_root), str):
            return f"the expected root must be hex text, got {type(expected_root).__name__}"
        expected = None if expected_root is None else bytes.fromhex(expected_root.removeprefix("0x"))
    except KeyError as missing:
        return f"field {missing} is missing"
    except (TypeError, ValueError) as error:
        return f"malformed proof: {error}"
    if any(len(s) != 32 for s in siblings):
        return "every sibling must be a 32-byte sha256 hash in hex"

    node = leaf_hash(epoch, account, amount)
    if "leaf" in proof and proof["leaf"] != node.hex():
        return "leaf does not match the hash of (epoch, account, amount)"
    size = leaf_count
    remaining = list(siblings)
    while size > 1:
        has_sibling = index % 2 == 1 or index + 1 < size
        if has_sibling:
            if not remaining:
                return "too few siblings for this leaf_index and leaf_count"
            sibling = remaining.pop(0)
            node = _node_hash(sibling, node) if index % 2 else _node_hash(node, sibling)
        index //= 2
        size = (size + 1) // 2
    if remaining:
        return "too many siblings for this leaf_index and leaf_count"
    if node != claimed_root:
        return "the path from the leaf does not lead to the proof's root"
    if expected is not None and expected != claimed_root:
        return f"the proof's root {claimed_root.hex()} is not the expected root {expected.hex()}"
    return None


def verify_proof(proof: Mapping[str, Any], expected_root: str | None = None) -> bool:
    """True if the proof holds: (epoch, account, amount) is a leaf of the tree with the proof's
    root, and that root equals ``expected_root`` when one is given (hex, "0x" optional)."""
    return proof_problem(proof, expected_root) is None


def load_proof(path: str) -> Any:
    """Read a proof file written with ``json.dump(proof, ...)``."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
