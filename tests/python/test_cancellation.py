"""The bridge's cancellation contract (docs/python.md): asyncio's task.cancel(msg) cancels the
native task across threads with the message, the awaiter sees CancelledError only after the
native task has ended, and asyncio's own tools work unchanged on native awaitables."""
import asyncio
import random
import threading

import pytest

import uvtask
import uvtask_example as ex

from conftest import reference_primes_up_to, until


def test_a_cpu_bound_native_job_cancelled_from_asyncio_is_interrupted_while_the_loop_keeps_ticking(run):
    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        tick_task = asyncio.create_task(ticker())
        job = asyncio.create_task(uvtask.count_primes(2**40))  # about an hour of native work
        await until(lambda: ticks >= 20)  # the asyncio loop serves the ticker meanwhile
        assert not job.done()
        ticks_at_cancel = ticks
        job.cancel("enough")
        with pytest.raises(asyncio.CancelledError) as caught:
            await job
        assert uvtask.live_tasks() == 0
        tick_task.cancel()
        return ticks_at_cancel, caught.value.args

    ticks_at_cancel, args = run(main())
    assert ticks_at_cancel >= 20
    assert args == ("enough",)


@pytest.mark.parametrize("make", [
    lambda: uvtask.spin(30.0),
    lambda: uvtask.sleep(30.0),
    lambda: uvtask.count_primes(2**40),
    lambda: uvtask.sha256_file("/dev/zero"),  # an endless file: hashed block after block
    lambda: ex.heavy_worker(30.0),
], ids=["spin", "sleep", "count_primes", "sha256_file", "heavy_worker"])
def test_live_tasks_is_zero_when_cancelled_error_reaches_the_awaiter(run, make):
    async def main():
        for rep in range(20):
            job = asyncio.create_task(make())
            await until(lambda: uvtask.live_tasks() == 1)
            for _ in range(rep % 4):  # cancel at different points of the native work
                await asyncio.sleep(0)
            job.cancel()
            try:
                await job
            except asyncio.CancelledError:
                assert uvtask.live_tasks() == 0
            else:
                pytest.fail("the native job was not cancelled")

    run(main())


def test_cancelled_error_reaches_the_awaiter_only_after_the_native_cleanup_finished(run):
    async def main():
        for _ in range(10):
            before, cleanups = ex.started(), len(ex.cleanups())
            job = asyncio.create_task(ex.heavy_worker(30.0))  # cleanup: 20 ms, non-cancellable
            await until(lambda: ex.started() > before)
            job.cancel("now")
            with pytest.raises(asyncio.CancelledError):
                await job
            assert len(ex.cleanups()) == cleanups + 1
            assert ex.cleanups()[-1] == ("now", "user")

    run(main())


def test_the_cancel_message_reaches_the_awaiter_as_given(run):
    marker = object()

    async def cancelled_args(msg, *more):
        job = asyncio.create_task(uvtask.spin(30.0))
        await until(lambda: uvtask.live_tasks() == 1)
        job.cancel(msg)
        for later in more:  # the latest request's message wins
            job.cancel(later)
        try:
            await job
        except asyncio.CancelledError as e:
            return e.args
        return None

    async def main():
        assert await cancelled_args("stop button") == ("stop button",)
        assert await cancelled_args(None) == ()
        assert (await cancelled_args(marker))[0] is marker  # any object, as asyncio allows
        assert await cancelled_args("first", "second") == ("second",)

    run(main())


def test_the_latest_cancel_message_wins_even_when_the_native_task_received_an_earlier_one():
    # Deterministic form of the race above: the native task (on its own thread) took the first
    # request and ended with its message before the second request reached it.
    import uvtask._bridge as bridge

    class EndedLater:
        def _cancel(self, text):
            return True  # still running when each request arrives

    async def main():
        future = bridge.NativeFuture()
        future._native = EndedLater()
        assert future.cancel("first")
        assert future.cancel("second")
        future._native_cancelled("first")  # the native error carries the first message
        with pytest.raises(asyncio.CancelledError) as caught:
            future.result()
        assert caught.value.args == ("second",)

        own = bridge.NativeFuture()
        own._native = EndedLater()
        assert own.cancel("mine")
        own._native_cancelled("interpreter exit")  # a cancel the bridge did not send
        with pytest.raises(asyncio.CancelledError) as caught:
            own.result()
        assert caught.value.args == ("interpreter exit",)

    asyncio.run(main())


def test_cancelling_before_the_task_first_ran_never_starts_the_native_work(run):
    async def main():
        before = ex.started()
        job = asyncio.create_task(ex.heavy_worker(30.0))
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
        assert ex.started() == before
        assert uvtask.live_tasks() == 0

    run(main())


def test_a_native_task_that_refuses_the_cancel_delivers_its_value(run):
    async def main():
        job = asyncio.create_task(ex.stubborn(30.0))
        await until(lambda: uvtask.live_tasks() == 1)
        job.cancel("please")
        assert await job == "refused: please"
        assert not job.cancelled()
        assert job.cancelling() == 1  # the request stays counted, as for an awaited Task

    run(main())


def test_asyncio_timeout_around_native_work_raises_timeout_error_once_it_has_ended(run):
    async def main():
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.02):
                await uvtask.spin(30.0)
        assert uvtask.live_tasks() == 0
        async with asyncio.timeout(30.0):
            assert await uvtask.count_primes(1000) == 168

    run(main())


def test_a_native_completion_racing_a_cancel_gives_the_value_or_cancelled_error_and_nothing_else(run):
    rng = random.Random(1234)  # the seed replays the schedule

    async def main():
        outcomes = set()
        for _ in range(300):
            job = asyncio.create_task(ex.add(1, 2))
            for _ in range(rng.randrange(4)):
                await asyncio.sleep(0)
            job.cancel()
            try:
                outcomes.add(await job)
            except asyncio.CancelledError:
                outcomes.add("cancelled")
        return outcomes

    assert run(main()) <= {3, "cancelled"}


def test_a_timeout_racing_a_native_completion_never_leaves_a_stray_cancel_behind(run):
    rng = random.Random(99)

    async def main():
        for _ in range(200):
            try:
                async with asyncio.timeout(rng.choice([0, 1e-5, 1e-4, 1e-3])):
                    assert await ex.add(2, 2) == 4
            except TimeoutError:
                pass
            await asyncio.sleep(0)  # a stray cancel would be raised here
            assert asyncio.current_task().cancelling() == 0

    run(main())


def native_result_queued():
    """Blocks (without yielding to the asyncio loop) until every native task has ended: their
    results then wait in the port's queue, not yet delivered to their futures."""
    while uvtask.live_tasks() != 0:
        pass


def test_a_cancel_after_the_native_task_ended_but_before_its_result_arrived_raises_cancelled_error_there(run):
    async def main():
        seen = []

        async def awaiter():
            seen.append(await ex.add(1, 2))
            await asyncio.sleep(0)
            seen.append("after")

        task = asyncio.create_task(awaiter())
        await asyncio.sleep(0)  # the awaiter's first step: it started the native call
        native_result_queued()
        task.cancel("late")  # the future refuses, as a done one does: asyncio delivers it
        with pytest.raises(asyncio.CancelledError):
            await task
        return seen

    assert run(main()) == []  # not the value and then a CancelledError one await later


def test_a_timeout_expiring_after_the_native_task_ended_raises_timeout_error_and_nothing_later(run):
    async def main():
        scope = {}

        async def awaiter():
            try:
                async with asyncio.timeout(3600) as deadline:
                    scope["deadline"] = deadline
                    await ex.add(2, 2)
            except TimeoutError:
                scope["outcome"] = "timeout"
            await asyncio.sleep(0)  # a stray cancel would be raised here
            return scope.get("outcome", "value")

        task = asyncio.create_task(awaiter())
        await asyncio.sleep(0)  # the awaiter's first step: it started the native call
        native_result_queued()
        scope["deadline"]._on_timeout()  # the deadline's timer firing in that window (3.11)
        return await task

    assert run(main()) == "timeout"


def test_a_task_group_cancels_its_native_children_when_one_fails(run):
    async def main():
        with pytest.raises(ExceptionGroup) as caught:
            async with asyncio.TaskGroup() as group:
                group.create_task(uvtask.spin(30.0))
                group.create_task(uvtask.count_primes(2**40))
                group.create_task(ex.fail("boom"))
        assert uvtask.live_tasks() == 0
        return caught.value.exceptions

    (only,) = run(main())
    assert isinstance(only, RuntimeError) and str(only) == "boom"


def test_gather_returns_native_results_in_order_and_cancelling_it_cancels_every_native_child(run):
    async def main():
        results = await asyncio.gather(uvtask.count_primes(100), ex.add(1, 1), uvtask.sleep(0))
        assert results == [25, 2, None]
        children = [asyncio.create_task(uvtask.spin(30.0)), asyncio.create_task(uvtask.sleep(30.0))]
        both = asyncio.gather(*children)
        await until(lambda: uvtask.live_tasks() == 2)
        both.cancel()
        with pytest.raises(asyncio.CancelledError):
            await both  # asyncio's gather raises at the first child's CancelledError…
        await asyncio.wait(children)  # … the other one ends cancelled too
        assert all(child.cancelled() for child in children)
        assert uvtask.live_tasks() == 0

    run(main())


def test_cancel_requested_from_another_thread_through_call_soon_threadsafe_stops_the_native_job(run):
    async def main():
        loop = asyncio.get_running_loop()
        job = asyncio.create_task(uvtask.spin(30.0))
        await until(lambda: uvtask.live_tasks() == 1)
        thread = threading.Thread(target=loop.call_soon_threadsafe, args=(job.cancel, "from a thread"))
        thread.start()
        with pytest.raises(asyncio.CancelledError) as caught:
            await job
        thread.join()
        return caught.value.args

    assert run(main()) == ("from a thread",)


def test_asyncio_loops_on_several_threads_share_the_native_loop(loop_kind):
    import uvloop
    factory = uvloop.new_event_loop if loop_kind == "uvloop" else asyncio.new_event_loop
    results = {}

    def worker(index):
        async def main():
            counts = await asyncio.gather(*(uvtask.count_primes(1000 + i) for i in range(100)))
            job = asyncio.create_task(uvtask.spin(30.0))
            await asyncio.sleep(0.001)
            job.cancel()
            with pytest.raises(asyncio.CancelledError):
                await job
            return counts

        with asyncio.Runner(loop_factory=factory) as runner:
            results[index] = runner.run(main())

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = reference_primes_up_to(1100)[1000:1100]
    assert len(results) == 4
    for counts in results.values():
        assert counts == expected
