from tests.toyworld.world_fixture import toy_world  # noqa: F401 (pytest fixture)
