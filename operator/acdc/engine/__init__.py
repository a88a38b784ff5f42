"""The AC/DC algorithm, pure Python + numpy: no torch, no subprocesses, no network.

Modules: ``ids`` (model/task ids, canonical order), ``rng`` (seeded generators per
purpose), ``skills`` (scores -> skill matrix, pass rates, difficulty weights), ``dns``
(Dominated Novelty Search), ``archive`` (members, select step, sync), ``parents``
(parent selection, merge recipes), ``taskpool`` (active pool, bands, adaptation,
pruning), ``taskforce`` (coverage selection, best-of-N), ``state`` (run-state folder),
``retention`` (model GC, free-disk check).
"""
