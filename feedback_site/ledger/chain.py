"""The hash chain of ledger entries: one canonical encoding, used to write, verify and benchmark.

Each entry's hash is ``sha256(previous entry's hash || encoding)``, the first entry's previous
hash being 32 zero bytes. The encoding (bytes, fixed; version ``ledgerloop-entry/1``):

    id|kind|debit|credit|amount|epoch|created_us|memo

- ``id``: the entry's position in the chain, 1, 2, 3, ... with no gap;
- ``kind``: ASCII kind name; ``debit`` / ``credit``: account ids, ``0`` for none;
- ``amount``: base units in decimal digits; ``epoch``: decimal, ``-1`` for none;
- ``created_us``: microseconds since the Unix epoch (UTC), never decreasing along the chain;
- ``memo``: the UTF-8 bytes of the stored memo text (canonical JSON or empty), taken as is.

Every field but the memo is digits or a kind name, so ``|`` cannot occur in them, and the memo
is last: the encoding is unambiguous without escaping.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

ENCODING_VERSION = "ledgerloop-entry/1"
ZERO_HASH = bytes(32)


def canonical_memo(data: dict[str, Any] | None) -> str:
    """A memo as stored: JSON with sorted keys and no spaces, or "" for none."""
    if not data:
        return ""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(
    previous: bytes,
    entry_id: int,
    kind: str,
    debit_id: int | None,
    credit_id: int | None,
    amount: int,
    epoch: int | None,
    created_us: int,
    memo: str,
) -> bytes:
    """Hash of one entry, given the previous entry's hash (see the module docstring)."""
    return next(chain_hashes(previous, [(entry_id, kind, debit_id, credit_id, amount, epoch, created_us, memo)]))


def chain_hashes(previous: bytes, rows: Iterable[tuple]) -> Iterator[bytes]:
    """Hashes of consecutive entries, each row holding the fields of ``entry_payload`` in order.

    One loop with local names: settlement hashes a million entries in one go.
    """
    sha256 = hashlib.sha256
    kinds: dict[str, bytes] = {}
    for entry_id, kind, debit_id, credit_id, amount, epoch, created_us, memo in rows:
        kind_bytes = kinds.get(kind)
        if kind_bytes is None:
            kind_bytes = kinds[kind] = kind.encode("ascii")
        previous = sha256(
            previous
            + b"%d|%b|%d|%d|%d|%d|%d|"
            % (
                entry_id,
                kind_bytes,
                debit_id or 0,
                credit_id or 0,
                amount,
                -1 if epoch is None else epoch,
                created_us,
            )
            + (memo.encode("utf-8") if memo else b"")
        ).digest()
        yield previous


# The same encoding, produced by the database when the chain is verified: these columns joined
# by "|" (a PostgreSQL COPY with DELIMITER '|', or SQL concatenation) give ``entry_hash|encoding``
# for each entry, so the check hashes bytes straight from the database. COPY's text format
# escapes backslashes, the delimiter and control characters; ``copy_unescape`` undoes that.
LINE_COLUMNS = (
    "entry_hash",
    "id",
    "kind",
    "COALESCE(debit_id, 0)",
    "COALESCE(credit_id, 0)",
    "amount",
    "COALESCE(epoch, -1)",
    "created_us",
    "memo",
)
_COPY_ESCAPES = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


def copy_unescape(text: bytes) -> bytes:
    """Undo PostgreSQL COPY text escaping (``\\\\``, ``\\|``, ``\\n``, ...)."""
    return re.sub(rb"\\(.)", lambda match: _COPY_ESCAPES.get(match.group(1), match.group(1)), text, flags=re.DOTALL)
