from tests.toyworld.world_fixture import one_torch_thread, toy_world  # noqa: F401 (pytest fixtures)
