"""Scientists write task folders; the engine decides which tasks to keep."""

from acdc.tasks.scientist.base import ADAPTATION_KINDS, AdaptationKind, Scientist, ScientistContext

__all__ = ["ADAPTATION_KINDS", "AdaptationKind", "Scientist", "ScientistContext"]
