"""uvtask/python.hpp: a C++ extension (bindings/python/examples/uvtask_example) exposes its own
Task<T> functions in one line each, on the same bridge and the same native loop."""
import asyncio
import warnings

import uvtask
import uvtask_example as ex


def test_an_extension_function_returns_an_awaitable_named_after_it(run):
    coroutine = ex.add(2, 3)
    assert coroutine.__qualname__ == "uvtask_example._native.add"
    assert run(coroutine) == 5


def test_an_extension_result_is_converted_by_pybind11(run):
    assert run(ex.squares(6)) == [0, 1, 4, 9, 16, 25]


def test_an_extension_coroutine_runs_inside_a_uvtask_task_on_the_shared_loop(run):
    # squares() passes a checkpoint() per element and heavy_worker() awaits sleep(): both need
    # the current task of uvtask's loop, which only one runtime copy in the process can give.
    async def main():
        assert len(await ex.squares(10_000)) == 10_000
        assert await ex.heavy_worker(0.0) == "Done"

    run(main())


def test_an_extension_function_has_its_docstring():
    assert "natively" in ex.add.__doc__
    assert "cleanup" in ex.heavy_worker.__doc__


def test_a_native_awaitable_never_awaited_is_reported_by_its_name_and_starts_nothing():
    before = uvtask.live_tasks()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        coroutine = uvtask.spin(30.0)
        del coroutine
        import gc
        gc.collect()
    assert any("uvtask.spin" in str(w.message) and "never awaited" in str(w.message)
               for w in caught)
    assert uvtask.live_tasks() == before


def test_native_awaitables_are_coroutines_for_create_task_and_task_group(run):
    async def main():
        task = asyncio.create_task(ex.add(1, 2))
        async with asyncio.TaskGroup() as group:
            other = group.create_task(uvtask.count_primes(10))
        return await task, other.result()

    assert run(main()) == (3, 4)
