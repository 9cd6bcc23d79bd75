"""Candidates, vectorised scoring, reasons, treatments and compact records (near-line
rescoring; see DESIGN.md, "Scoring")."""
