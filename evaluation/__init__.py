"""Offline evaluation: replay a log through the worker's labeller, feature state, GLMix
updaters and scorer, and report AUC, calibration, top-k and off-policy figures."""
