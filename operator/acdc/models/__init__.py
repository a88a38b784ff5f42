"""Models: mergekit crossover, mutation, the sanity check and inference backends."""
