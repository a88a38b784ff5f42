"""Stdlib-only code that runs inside the sandbox.

These files are copied into a read-only lib dir that the sandbox binds at ``/acdc``, and
``task_process.py`` is run there by the sandbox's own interpreter (``python -I -S``) with
flat imports. The trusted side imports only ``lines``.
"""
