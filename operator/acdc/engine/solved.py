"""The one number that turns a score into "solved".

The reference uses 0.5 twice: ``ACDCTask`` counts an item as passed when its ``score()``
is at least 0.5, and ``dns.acdc_skill_threshold`` (0.5) turns a task score into a skill.
Everything here that asks "was it solved?" (the sandbox's per-item verdict, skill vectors,
pass rates, the held-out comparison, and the spec's default ``selection.skillThreshold``)
reads this constant. It lives in a module of its own, without numpy, so that the spec can
import it and `acdc validate` stays quick.
"""

from __future__ import annotations

SOLVED_THRESHOLD = 0.5
