"""Hashes payout trees for verify_ledger in a process of its own:
``python -m feedback_site.ledger.root_worker``.

Reads pickled ``(epoch, payouts)`` pairs from stdin and answers each with its Merkle root (hex)
on a line of stdout, in order. It sets up no Django and opens no database connection, so it
starts quickly and shares nothing with the process that checks the chain meanwhile.
"""

import pickle
import sys

from simulator.economy.merkle import payouts_root


def main() -> None:
    requests, answers = sys.stdin.buffer, sys.stdout
    while True:
        try:
            epoch, payouts = pickle.load(requests)
        except EOFError:
            return
        answers.write(payouts_root(epoch, payouts) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
