"""HITL gate scorer: calibrated confidence from explainable signals."""
