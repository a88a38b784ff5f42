"""Getting a run's results out: the task-force bundle, its safe unpacking, the reader
server and pod that serve them from a cluster volume, and the export to object stores."""
