"""Shared runtime of every HITL gate service. One way to do each cross-cutting thing."""
