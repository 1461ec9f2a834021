"""HITL gate simulator: drafts with known defects, reviewer bots, demo and routing bench."""
