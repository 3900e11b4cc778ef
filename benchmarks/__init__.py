"""Benchmarks: ``python -m benchmarks.run`` (``make bench``) measures the services against
hand-written baselines (``benchmarks.baselines``); docs/benchmarks.md says how to read it.

The harness reaches the project only through its stable surfaces: the wire contract
(``invoicebus_contracts``), the services started as processes (``python -m invoicebus.commands``,
``python -m invoicebus.queries``) configured by their environment variables, and the broker
topology they declare.
"""
