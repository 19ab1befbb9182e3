"""Data files the simulator reads: the attribution profile (see simulator/attribution_model.py)."""
