"""Test helpers that ship with sia-core, for the core's tests and for plugin authors.

`sandbox_checks`: the conformance checks every sandbox plugin runs against itself.
"""
