"""Session-wide test settings."""

from __future__ import annotations

import torch

# Tiny models gain nothing from intra-op threads, and on a shared 2-core CI box several
# phases run side by side (the operator tests run them in threads of this process): two
# OpenMP pools spinning on each other made the model tests ten times slower.
torch.set_num_threads(1)
