"""Benchmarks: commands that print numbers and write JSON to bench/results/."""
