"""The native loop's life: interpreter exit with native tasks still running, fork, thousands of
concurrent native awaits, the benchmark's call_soon_threadsafe completion mode, installation."""
import asyncio
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import uvtask
import uvtask._bridge
import uvtask_example as ex

from conftest import python_env

PYTHON = "/usr/bin/python3"


def run_python(script, *args, timeout=120):
    return subprocess.run([PYTHON, "-X", "dev", "-c", textwrap.dedent(script), *args],
                          capture_output=True, text=True, timeout=timeout, env=python_env())


def assert_clean_stderr(stderr):
    for bad in ("AddressSanitizer", "runtime error:", "Fatal Python error", "Segmentation",
                "Task was destroyed but it is pending", "Traceback"):
        assert bad not in stderr, stderr


def test_interpreter_exit_with_native_tasks_running_cancels_them_runs_their_cleanup_and_exits(tmp_path):
    note = tmp_path / "note.txt"
    result = run_python("""
        import asyncio, atexit, sys
        def after_shutdown():  # registered before uvtask's: runs after its shutdown (LIFO)
            try:
                asyncio.run(uvtask.sleep(0))
            except RuntimeError as e:
                print("after shutdown:", e, flush=True)
        atexit.register(after_shutdown)
        import uvtask, uvtask_example as ex
        loop = asyncio.new_event_loop()
        jobs = [loop.create_task(c) for c in (
            uvtask.spin(60), uvtask.sleep(60), uvtask.count_primes(2**40),
            uvtask.sha256_file("/dev/zero"), ex.heavy_worker(60, sys.argv[1]))]
        async def running():
            while uvtask.live_tasks() < 5 or ex.started() < 1:
                await asyncio.sleep(0.001)
        loop.run_until_complete(running())
        print("exiting with", uvtask.live_tasks(), "native tasks", flush=True)
        """, str(note))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "exiting with 5 native tasks",
        "after shutdown: uvtask: the native loop has shut down (the interpreter is exiting)",
    ]
    assert note.read_text() == "cleaned up: interpreter exit (shutdown)\n"
    assert "Task was destroyed" not in result.stderr  # every native task ended in time
    for bad in ("AddressSanitizer", "runtime error:", "Fatal Python error"):
        assert bad not in result.stderr, result.stderr


def test_interpreter_exit_before_any_native_call_and_right_after_import_is_clean():
    for script in ("import uvtask", "import uvtask; print(uvtask.live_tasks())"):
        result = run_python(script)
        assert result.returncode == 0
        assert_clean_stderr(result.stderr)


def test_a_forked_child_gets_its_own_native_loop():
    result = run_python("""
        import asyncio, os, uvtask
        assert asyncio.run(uvtask.count_primes(100)) == 25  # the parent's loop thread runs
        pid = os.fork()
        if pid == 0:
            ok = asyncio.run(uvtask.count_primes(1000)) == 168 and uvtask.live_tasks() == 0
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        print("child exit status", os.waitstatus_to_exitcode(status))
        print("parent", asyncio.run(uvtask.count_primes(10)))
        """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["child exit status 0", "parent 4"]


def test_thousands_of_concurrent_native_awaits_all_complete(run):
    async def main():
        sleeps = [uvtask.sleep(0.001) for _ in range(3000)]
        sums = [ex.add(i, i) for i in range(3000)]
        primes = [uvtask.count_primes(1000) for _ in range(1000)]
        results = await asyncio.gather(*sleeps, *sums, *primes)
        assert results[:3000] == [None] * 3000
        assert results[3000:6000] == [2 * i for i in range(3000)]
        assert results[6000:] == [168] * 1000
        jobs = [asyncio.create_task(uvtask.spin(30.0)) for _ in range(2000)]
        await asyncio.sleep(0.01)
        for job in jobs:
            job.cancel()
        outcomes = await asyncio.gather(*jobs, return_exceptions=True)
        assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
        assert uvtask.live_tasks() == 0

    run(main())


def test_the_call_soon_threadsafe_completion_mode_delivers_the_same_results(run):
    uvtask._bridge.completion_mode = "call_soon_threadsafe"
    try:
        async def main():
            assert await asyncio.gather(*(ex.add(i, 1) for i in range(200))) == list(range(1, 201))
            job = asyncio.create_task(uvtask.spin(30.0))
            await asyncio.sleep(0.001)
            job.cancel("threadsafe")
            with pytest.raises(asyncio.CancelledError) as caught:
                await job
            assert caught.value.args == ("threadsafe",)

        run(main())
    finally:
        uvtask._bridge.completion_mode = "eventfd"


def test_meson_install_puts_the_package_where_usr_bin_python3_finds_it(tmp_path):
    builddir = os.environ.get("UVTASK_BUILDDIR")
    if not builddir:
        pytest.skip("UVTASK_BUILDDIR is not set (run through meson test)")
    installed = json.loads((pathlib.Path(builddir) / "meson-info" / "intro-installed.json").read_text())
    init = next(dest for src, dest in installed.items() if src.endswith("bindings/python/uvtask/__init__.py"))
    site_dir = os.path.dirname(os.path.dirname(init))
    prefix = json.loads((pathlib.Path(builddir) / "meson-info" / "intro-buildoptions.json").read_text())
    prefix = next(o["value"] for o in prefix if o["name"] == "prefix")
    found = subprocess.run([PYTHON, "-c", "import sys; print('\\n'.join(sys.path))"],
                           capture_output=True, text=True, env={"PATH": os.environ["PATH"]}).stdout
    if prefix in ("/usr/local", "/usr"):
        assert site_dir in found.splitlines(), (site_dir, found)
    destdir = tmp_path / "root"
    done = subprocess.run(["meson", "install", "-C", builddir, "--no-rebuild", "--quiet",
                           "--destdir", str(destdir)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    env = python_env()
    env["PYTHONPATH"] = str(destdir) + site_dir
    imported = subprocess.run([PYTHON, "-c", "import asyncio, uvtask; print(uvtask.__file__, "
                               "asyncio.run(uvtask.count_primes(100)))"],
                              capture_output=True, text=True, env=env)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.split() == [str(destdir) + init, "25"]
