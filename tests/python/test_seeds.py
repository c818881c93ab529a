"""The programs of the two asyncio articles this project starts from, rewritten with native heavy
work: the heavy worker cancelled after a moment, re-raising, the wait_for timeout, the shield
example and the resilient task. Each prints what the article's version prints, and checks what
the article could only hope for: the native work was really stopped, its cleanup ran before
Python saw CancelledError, and no native task is left."""
import asyncio

import uvtask
import uvtask_example as ex

from conftest import until


def lines(capsys):
    return capsys.readouterr().out.splitlines()


def test_heavy_worker_cancelled_after_a_moment_runs_native_cleanup_before_python_sees_cancelled(run, capsys):
    seen = {}

    async def heavy_worker():
        print("[Worker] Task started. Executing heavy process...")
        try:
            await ex.heavy_worker(5.0)  # 5 s of native CPU-bound work
            print("[Worker] Process completed normally.")
            return "Done"
        except asyncio.CancelledError:
            seen["cleanups"] = len(ex.cleanups())
            seen["live"] = uvtask.live_tasks()
            print("[Worker] Cancellation notice received. Interrupting process.")
            return "Canceled"

    async def main():
        print("--- Main Process Started ---")
        before = ex.started()
        cleanups_before = len(ex.cleanups())
        task = asyncio.create_task(heavy_worker())
        await until(lambda: ex.started() > before)  # "a moment": the native work is running
        print(">>> Main: Requesting task cancellation...")
        task.cancel()
        try:
            status = await task
            print(f"Main: Task result -> {status}")
        except asyncio.CancelledError:
            print("Main: Task raised a cancellation exception")
        print("--- Main Process Finished ---")
        return cleanups_before

    cleanups_before = run(main())
    assert lines(capsys) == [
        "--- Main Process Started ---",
        "[Worker] Task started. Executing heavy process...",
        ">>> Main: Requesting task cancellation...",
        "[Worker] Cancellation notice received. Interrupting process.",
        "Main: Task result -> Canceled",
        "--- Main Process Finished ---",
    ]
    assert seen == {"cleanups": cleanups_before + 1, "live": 0}  # cleanup done, task ended
    assert ex.cleanups()[-1] == ("", "user")


def test_heavy_worker_reraising_ends_the_task_cancelled_with_the_message(run, capsys):
    async def heavy_worker():
        print("[Worker] Task started. Executing heavy process...")
        try:
            await ex.heavy_worker(5.0)
            return "Done"
        except asyncio.CancelledError as e:
            print(f"[Worker] Cancellation notice received ({e.args[0]}). Cleaning up and re-raising.")
            raise

    async def main():
        print("--- Main Process Started ---")
        before = ex.started()
        task = asyncio.create_task(heavy_worker())
        await until(lambda: ex.started() > before)
        print(">>> Main: Requesting task cancellation...")
        task.cancel("stop button pressed")
        try:
            await task
        except asyncio.CancelledError as e:
            print(f"Main: Task raised a cancellation exception ({e.args[0]})")
        print(f"Main: task.cancelled() -> {task.cancelled()}")
        print("--- Main Process Finished ---")

    run(main())
    assert lines(capsys) == [
        "--- Main Process Started ---",
        "[Worker] Task started. Executing heavy process...",
        ">>> Main: Requesting task cancellation...",
        "[Worker] Cancellation notice received (stop button pressed). Cleaning up and re-raising.",
        "Main: Task raised a cancellation exception (stop button pressed)",
        "Main: task.cancelled() -> True",
        "--- Main Process Finished ---",
    ]
    assert ex.cleanups()[-1] == ("stop button pressed", "user")


def test_wait_for_timeout_cancels_the_native_work_and_waits_for_it_before_timeout_error(run, capsys):
    async def slow_process(seconds):
        print("[Process] Started")
        try:
            await uvtask.spin(seconds)  # native CPU-bound work
            return "Complete"
        except asyncio.CancelledError:
            print("[Process] Interrupted due to timeout")
            raise

    async def main_timeout():
        try:
            result = await asyncio.wait_for(slow_process(30.0), timeout=0.05)
            print(f"Result: {result}")
        except asyncio.TimeoutError:
            print("Main: Timed out (Task already cancelled)")
            assert uvtask.live_tasks() == 0  # the native spin has ended: no orphan
        result = await asyncio.wait_for(slow_process(0.0), timeout=30.0)
        print(f"Result: {result}")

    run(main_timeout())
    assert lines(capsys) == [
        "[Process] Started",
        "[Process] Interrupted due to timeout",
        "Main: Timed out (Task already cancelled)",
        "[Process] Started",
        "Result: Complete",
    ]


def test_shield_keeps_the_native_work_running_while_its_waiter_is_cancelled(run, capsys):
    released = asyncio.Event()

    async def long_running_task():
        print("Task started")
        while not released.is_set():  # native work, slice by slice, until main lets it finish
            await uvtask.spin(0.002)
        print("Task completed")
        return "saved"

    async def waiter(task):
        print("Waiter: awaiting shield(task)")
        try:
            result = await asyncio.shield(task)
            print(f"Waiter: got {result}")
        except asyncio.CancelledError:
            print("Waiter: cancelled; the shielded task runs on")
            raise

    async def main():
        task = asyncio.create_task(long_running_task())
        waiting = asyncio.create_task(waiter(task))
        await until(lambda: uvtask.live_tasks() > 0)
        print("Main: cancelling the waiter")
        waiting.cancel()
        try:
            await waiting
        except asyncio.CancelledError:
            print(f"Main: waiter cancelled -> {waiting.cancelled()}, task done -> {task.done()}")
        released.set()
        result = await task
        print(f"Main: task result -> {result}, task cancelled -> {task.cancelled()}")

    run(main())
    assert lines(capsys) == [
        "Task started",
        "Waiter: awaiting shield(task)",
        "Main: cancelling the waiter",
        "Waiter: cancelled; the shielded task runs on",
        "Main: waiter cancelled -> True, task done -> False",
        "Task completed",
        "Main: task result -> saved, task cancelled -> False",
    ]


def test_shield_as_the_article_wrote_it_cancels_the_task_itself(run, capsys):
    # The article cancels the shielded task itself; shield() cannot help then.
    async def long_running_task():
        print("Task started")
        await uvtask.spin(5.0)
        print("Task completed")

    async def main():
        task = asyncio.create_task(long_running_task())
        await until(lambda: uvtask.live_tasks() > 0)
        task.cancel()
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            print("Task was not cancelled")
        return task.cancelled()

    assert run(main()) is True  # despite what it prints, the task was cancelled
    assert lines(capsys) == ["Task started", "Task was not cancelled"]


def test_resilient_task_refuses_the_cancel_and_its_later_native_awaits_run_normally(run, capsys):
    async def resilient_task():
        print("Task started")
        try:
            await uvtask.spin(10.0)
        except asyncio.CancelledError:
            print("Caught cancellation, will not stop.")
            await uvtask.sleep(0.02)  # native work after refusing: runs normally
            print("Cleanup done")

    async def main():
        task = asyncio.create_task(resilient_task())
        await until(lambda: uvtask.live_tasks() > 0)
        print("Main: cancelling the task")
        task.cancel()
        await task  # the article sleeps 3 s "to give time"; awaiting is exact
        print(f"Main: task cancelled() -> {task.cancelled()}, cancelling() -> {task.cancelling()}")
        print("Main completed")

    run(main())
    assert lines(capsys) == [
        "Task started",
        "Main: cancelling the task",
        "Caught cancellation, will not stop.",
        "Cleanup done",
        "Main: task cancelled() -> False, cancelling() -> 1",
        "Main completed",
    ]
