"""Scoring against per-pixel ground truth with CDnet's rules (``scoring``) and synthetic
scenes with exact ground truth (``synthetic``)."""

from bgsub.evaluate.scoring import Scores, Sequence, evaluate_sequence

__all__ = ["Scores", "Sequence", "evaluate_sequence"]
