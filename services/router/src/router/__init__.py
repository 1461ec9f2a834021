"""HITL gate router: adaptive per-content-type thresholds with a certified error budget."""
