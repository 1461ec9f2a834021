import gc

from hitl_runtime.heap import settle


def test_what_start_up_built_is_frozen_out_of_later_collections() -> None:
    loaded = [{"term": i} for i in range(10_000)]  # what a service loads once at start
    try:
        frozen = settle()
        assert frozen >= len(loaded)
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
