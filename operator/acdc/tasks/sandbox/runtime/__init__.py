"""Stdlib-only code that runs inside the sandbox.

These files are copied into a read-only lib dir and run by ``python -I`` worker processes
with flat imports (``import lines``). Only ``lines`` is also imported by the trusted parent.
"""
