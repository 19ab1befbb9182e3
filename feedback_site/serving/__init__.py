"""Serving: consumers call published model versions through the site and pay per call in OPEN.

The engine (`rlhf.serving`) scores and generates; this app decides who may call what, validates the
request, and meters every call: one record per idempotency key, and the fee taken from the consumer's
OPEN balance in the same transaction as the record (`services`)."""
