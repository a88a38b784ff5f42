"""Getting a run's results out: the task-force bundle, its safe unpacking, the reader
server that serves them from a volume, and the export to hubs and other volumes.
The cluster side (the reader pod and the client that drives it) lives in the controller."""
