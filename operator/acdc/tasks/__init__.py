"""Tasks: the reference-compatible format, the sandbox that runs task code, the judge,
the scientists that write tasks, and the built-in seed tasks."""
