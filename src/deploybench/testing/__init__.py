"""Servers for tests and benchmarks: exact timing schedules and injected faults.

They stand in for a real engine only where a real one can't do it on demand.
"""
