"""HITL gate review-api: the human review service."""
