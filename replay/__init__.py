"""Synthetic worlds, the on-disk activity log, and replaying logs through the core."""
