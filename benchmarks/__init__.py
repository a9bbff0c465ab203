"""Benchmarks: commands that print figures (``ticketcore bench ...``), never tests on time.

Each benchmark starts its own nats-server in a temporary folder and measures the raw limit
of that same server in the same run, so the figures can be compared on any machine.
"""
