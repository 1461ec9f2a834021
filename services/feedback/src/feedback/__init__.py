"""HITL gate feedback: retraining data, dataset export and scorer retraining."""
