#!/usr/bin/env python3
"""Checks the runtime's layering: a lower layer never includes a higher one.

Layers, lowest first: core < loop < time < sync < structured < io (docs/architecture.md).
A private file belongs to the layer of its folder (runtime/src/<layer>/...); a public header
belongs to the layer given in PUBLIC below. Every include of a public header ("uvtask/x.hpp")
or of a private one ("<layer>/x.hpp") is checked. A public header missing from PUBLIC is an
error too, so that every new header is placed in a layer on purpose.

Exit status 0 when clean; otherwise prints each violation and exits 1.
"""
import pathlib
import re
import sys

LAYERS = ["core", "loop", "time", "sync", "structured", "io"]
RANK = {name: i for i, name in enumerate(LAYERS)}

# Public headers (runtime/include/uvtask/...) and their layers. uvtask.hpp includes them all.
PUBLIC = {
    # core: task state, frames, errors, this_task
    "errors.hpp": "core",
    "outcome.hpp": "core",
    "exception_handler.hpp": "core",
    "this_task.hpp": "core",
    "task.hpp": "core",
    "detail/awaiter_traits.hpp": "core",
    "detail/frame_allocator.hpp": "core",
    "detail/cancel_scope.hpp": "core",
    "detail/intrusive_list.hpp": "core",
    "detail/raise.hpp": "core",
    "detail/require_cxx20.hpp": "core",
    "detail/settle.hpp": "core",
    "detail/spin_lock.hpp": "core",
    "detail/task_host.hpp": "core",
    "detail/task_state.hpp": "core",
    "detail/task_trace.hpp": "core",
    # loop: the ready queue, the remote inbox, spawning, joining, run()
    "debug.hpp": "loop",
    "loop.hpp": "loop",
    "loop_group.hpp": "loop",
    "non_cancellable.hpp": "loop",
    "nothrow.hpp": "loop",
    "operation.hpp": "loop",
    "run.hpp": "loop",
    "shield.hpp": "loop",
    "spawn.hpp": "loop",
    "task_handle.hpp": "loop",
    "testing.hpp": "loop",
    "yield.hpp": "loop",
    "detail/bounded_work.hpp": "loop",
    "detail/join.hpp": "loop",
    "detail/loop_core.hpp": "loop",
    "detail/spawned_task.hpp": "loop",
    "detail/suspension_point.hpp": "loop",
    # time: timers, sleep, deadlines
    "clock.hpp": "time",
    "sleep.hpp": "time",
    "timeout.hpp": "time",
    "wait_for.hpp": "time",
    "detail/timer_node.hpp": "time",
    # sync: event, lock, semaphore, condition, queue
    "condition.hpp": "sync",
    "event.hpp": "sync",
    "lock.hpp": "sync",
    "queue.hpp": "sync",
    "semaphore.hpp": "sync",
    "detail/wait_awaiter.hpp": "sync",
    "detail/wait_list.hpp": "sync",
    # structured: task groups, gather, race
    "exception_group.hpp": "structured",
    "gather.hpp": "structured",
    "race.hpp": "structured",
    "task_group.hpp": "structured",
    "detail/child_set.hpp": "structured",
    "detail/join_scope.hpp": "structured",
    # io: streams, listeners, fs, dns, process, signal, to_thread, poll
    "address.hpp": "io",
    "dns.hpp": "io",
    "fs.hpp": "io",
    "io_error.hpp": "io",
    "listener.hpp": "io",
    "pipe.hpp": "io",
    "poll.hpp": "io",
    "process.hpp": "io",
    "signal.hpp": "io",
    "stream.hpp": "io",
    "tcp.hpp": "io",
    "to_thread.hpp": "io",
    "udp.hpp": "io",
    "detail/end_watch.hpp": "io",
    "detail/io_awaiter.hpp": "io",
    # the umbrella header
    "uvtask.hpp": None,
}

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^">]+)[">]', re.M)


def layer_of_include(target):
    """The layer of an included file, or None for a system/third-party header."""
    if target.startswith("uvtask/"):
        name = target[len("uvtask/"):]
        return PUBLIC.get(name, "unmapped")
    head = target.split("/", 1)[0]
    if head in RANK and "/" in target:
        return head
    return None


def main(root):
    runtime = root / "runtime"
    problems = []
    files = []
    for path in sorted((runtime / "include" / "uvtask").rglob("*.hpp")):
        name = path.relative_to(runtime / "include" / "uvtask").as_posix()
        if name not in PUBLIC:
            problems.append(f"{path.relative_to(root)}: public header not placed in a layer "
                            f"(add it to PUBLIC in scripts/check-layers.py)")
            continue
        if PUBLIC[name] is not None:
            files.append((path, PUBLIC[name]))
    for path in sorted((runtime / "src").rglob("*")):
        if path.suffix not in (".cpp", ".hpp"):
            continue
        parts = path.relative_to(runtime / "src").parts
        if len(parts) < 2 or parts[0] not in RANK:
            problems.append(f"{path.relative_to(root)}: private code outside a layer folder "
                            f"({', '.join(LAYERS)})")
            continue
        files.append((path, parts[0]))
    for path, own in files:
        for target in INCLUDE.findall(path.read_text()):
            layer = layer_of_include(target)
            if layer is None:
                continue
            if layer == "unmapped":
                problems.append(f"{path.relative_to(root)}: includes {target}, "
                                f"which is in no layer")
            elif RANK[layer] > RANK[own]:
                problems.append(f"{path.relative_to(root)} ({own}) includes {target} "
                                f"({layer}): a lower layer never includes a higher one")
    for problem in problems:
        print(problem)
    print(f"layers: {len(files)} files checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(__file__).resolve().parent.parent))
