#!/usr/bin/env python3
"""Writes the hand-made seeds of tests/fuzz/corpus/: one program per scenario of
docs/semantics.md §3-§4, encoded as the decoder (tests/fuzz/decoder.cpp) reads bytes. The fuzzer
starts from these (and from what it found before, merged into the same directory) and mutates
them. Replay one to see the program it decodes to:
    UVTASK_FUZZ_VERBOSE=1 build-fuzz/tests/fuzz/uvtask_fuzz tests/fuzz/corpus/seed-<name>

The helpers mirror the decoder: a step's first byte picks its kind, the next ones its target (an
index into the candidates, in puppet order) and operands; queue and lock 1 are bytes 3 (the
decoder picks them for byte % 4 == 3). Keep them in step with decoder.cpp."""
import os
import sys

# Operations, in the order of `Op` (program.hpp).
OPS = ["end", "sleep_forever", "sleep_short", "yield", "checkpoints", "checkpoint_spin", "push",
       "pop", "try_push", "try_pop", "lock", "unlock", "join", "shield", "wait_for_handle",
       "wait_for_task", "wait_for_op", "gather", "group_spawn", "probe", "uncancel",
       "cancel_self", "cancel_other", "raise", "expire_own", "scope_catch", "scope_nc",
       "scope_timeout", "scope_move_on", "scope_deadline", "scope_group"]
# How often the decoder picks each operation (op_weights in decoder.cpp): an operation's byte is
# where its range starts.
WEIGHTS = [3, 2, 1, 2, 2, 1, 4, 4, 1, 1, 5, 4, 2, 1, 2, 2, 2, 2, 2, 2, 2, 1, 2, 2, 1, 3, 2, 2, 2,
           2, 2]
MSG = {"": 0, "a": 1, "b": 2}
USER, SIGNAL = 1, 0  # the kind byte of a cancel (byte % 4 == 0: signal)
ZERO, NEVER, SHORT = 0, 1, 2


def header(capacity0="unbounded", capacity1="unbounded"):
    index = {"unbounded": 0, "1": 1, "0": 2}
    return [index[capacity0] + 3 * index[capacity1]]


def spawn(cancel_msg=None):
    return [0, 0, MSG[cancel_msg]] if cancel_msg is not None else [0, 1, 0]


def cmd(idle_index, op, *operands):
    """`idle_index`: the puppet's place among the idle puppets, in id order."""
    return [100, idle_index, sum(WEIGHTS[:OPS.index(op)]), *operands]


def cancel(index, msg="", kind=USER):
    """`index`: among the puppets with a handle, in id order."""
    return [160, index, MSG[msg], kind]


def remote_cancel(index, msg="", kind=USER):
    return [180, index, MSG[msg], kind]


def race(idle_index, which, operands, msg="", kind=USER, spin=0):
    """which: 0 yield, 1 checkpoints, 2 sleep_short, 3 wait_for_op short (idle puppets with a
    handle at depth 0 or right inside a catch scope)."""
    return [195, idle_index, which, *operands, MSG[msg], kind, spin]


def expire(index):
    return [210, index]


def driver_push(q, then=None, msg=""):
    return [220, q] + ([0, then, MSG[msg]] if then is not None else [1])


def driver_pop(q, then=None, msg=""):
    return [228, q] + ([0, then, MSG[msg]] if then is not None else [1])


def driver_unlock(lock, then=None, msg=""):
    return [236, lock] + ([0, then, MSG[msg]] if then is not None else [1])


def close(q):
    return [242, q]


def time_slice(which):  # 0: 0, 1: 20 us, 2: 1 h
    return [250, which]


SEEDS = {
    # §3.2: a suspended task receives the cancel at once; a running one at its next suspension
    # point (an idle puppet holds it back until its next operation).
    "cancel-sleeping": header() + spawn() + cmd(0, "sleep_forever") + cancel(0, "a"),
    "cancel-idle-then-yield": header() + spawn() + cancel(0, "b") + cmd(0, "probe") +
    cmd(0, "scope_catch") + cmd(0, "yield", 0) + cmd(0, "probe") + cmd(0, "uncancel") +
    cmd(0, "probe"),
    # §3.1, §3.4: counts, the latest message wins, uncancel withdraws an undelivered request.
    "uncancel": header() + spawn() + cancel(0, "a") + cancel(0, "b") + cmd(0, "uncancel") +
    cmd(0, "uncancel") + cmd(0, "probe") + cmd(0, "yield", 1) + cmd(0, "end", 3),
    # §3.5: cancelled before its body first ran; a join of it.
    "cancel-before-start": header() + spawn() + spawn("a") + cmd(0, "scope_catch") +
    cmd(0, "join", 0, 1) + cmd(0, "end", 1),
    # §3.3: a pop handed an item in the same tick as a cancel keeps the item.
    "pop-handed-then-cancel": header("0") + spawn() + cmd(0, "pop", 0) +
    driver_push(0, then=0, msg="a") + cmd(0, "probe") + cmd(0, "yield", 0),
    "push-rendezvous-cancel": header("0") + spawn() + spawn() + cmd(0, "push", 0) +
    cancel(0, "a") + cmd(0, "pop", 0) + cmd(0, "push", 0) + driver_pop(0, then=0) +
    cmd(0, "end", 2),
    # Lock: handed to a waiter cancelled in the same tick, passed on.
    "lock-handed-then-cancel": header() + spawn() + spawn() + spawn() + cmd(0, "lock", 0) +
    cmd(1, "lock", 0) + cmd(1, "lock", 0) + driver_unlock(0, then=0, msg="b") +
    cmd(0, "unlock", 0),
    # §3.6: a cancel passes on to an awaited task; shield stops that.
    "join-forwards": header() + spawn() + spawn() + cmd(0, "join", 0, 1) + cancel(0, "a") +
    cmd(0, "scope_catch") + cmd(0, "yield", 2) + cmd(0, "end", 7),
    "shield": header() + spawn() + spawn() + cmd(0, "shield", 0, 1) + cancel(0, "a") +
    cmd(1, "end", 4) + cmd(0, "join", 0),
    # §3.7: non_cancellable holds requests back until the first suspension point after it.
    "non-cancellable": header() + spawn() + cmd(0, "scope_nc") + cancel(0, "a") +
    cmd(0, "sleep_short", 0) + cmd(0, "pop", 0) + driver_push(0) + cmd(0, "end", 1) +
    cmd(0, "probe") + cmd(0, "yield", 0),
    # §3.8: checkpoint loops, and one cancelled while it spins, from this thread and another.
    "checkpoints": header() + spawn() + time_slice(0) + spawn() + cmd(0, "checkpoints", 50) +
    cmd(0, "checkpoint_spin") + cmd(0, "checkpoint_spin") + cancel(0, "a") +
    remote_cancel(1, "b") + time_slice(2),
    # §3.10: cancels from another thread: of a sleeping task, and racing with operations.
    "remote": header() + spawn() + cmd(0, "sleep_forever") + remote_cancel(0, "a", SIGNAL) +
    spawn() + cmd(0, "scope_catch") + race(0, 0, [2], "b") + cmd(0, "scope_catch") +
    race(0, 2, [1], "a", SIGNAL, 40) + cmd(0, "scope_catch") + race(0, 1, [60], "", USER, 200) +
    cmd(0, "scope_catch") + race(0, 3, [1, 0], "a") + cmd(0, "scope_catch") +
    race(0, 3, [0, 0], "b", USER, 100) + race(0, 3, [2, 0], "a", USER, 3),
    # §4 deadlines: expired at the start, expired by the driver while blocked, nested.
    "deadlines": header() + spawn() + cmd(0, "scope_catch") + cmd(0, "scope_catch") +
    cmd(0, "scope_catch") + cmd(0, "scope_timeout", ZERO) +
    cmd(0, "pop", 0) + cmd(0, "scope_move_on", ZERO) + cmd(0, "yield", 0) +
    cmd(0, "scope_deadline") + cmd(0, "scope_deadline") + cmd(0, "pop", 3) + expire(0) +
    cmd(0, "end", 5) + cmd(0, "expire_own") + cmd(0, "end", 6),
    "deadline-and-cancel": header() + spawn() + cmd(0, "scope_catch") +
    cmd(0, "scope_deadline") + cmd(0, "sleep_forever") + cancel(0, "a") + cmd(0, "probe") +
    cmd(0, "expire_own") + cmd(0, "yield", 0) + cmd(0, "end", 2),
    # wait_for: on a handle, on a new task, on a queue pop with a real timer.
    "wait-for": header() + spawn() + spawn() + cmd(0, "wait_for_handle", 0, ZERO) +
    cmd(0, "scope_catch") + cmd(0, "wait_for_task", NEVER) + cmd(1, "end", 8) +
    cmd(0, "wait_for_op", 1, 0, SHORT) + cmd(0, "wait_for_op", 2, 3, ZERO) +
    cmd(0, "wait_for_op", 0, 0, SHORT),
    # gather: values, a failing child, an outer cancel, a child cancelled by someone else.
    "gather": header() + spawn() + cmd(0, "scope_catch") + cmd(0, "gather", 1, 1) +
    cmd(1, "end", 1) + cmd(1, "end", 2) + cmd(0, "gather", 2, 1) + cmd(1, "raise") +
    cmd(0, "gather", 1, 0) + cancel(0, "a") + cmd(1, "yield", 0),
    # TaskGroup: a failing child interrupts the body; an outer cancel while waiting.
    "group-child-fails": header() + spawn() + cmd(0, "scope_catch") + cmd(0, "scope_group") +
    cmd(0, "group_spawn") + cmd(0, "group_spawn") + cmd(0, "pop", 0) + cmd(1, "raise") +
    cmd(1, "probe") + cmd(1, "yield", 0) + cmd(0, "probe"),
    "group-outer-cancel": header() + spawn() + cmd(0, "scope_catch") + cmd(0, "scope_group") +
    cmd(0, "group_spawn") + cmd(0, "end", 3) + cancel(0, "b") + cmd(0, "sleep_short", 0) +
    cmd(0, "end", 1),
    # Fault 2: the body received the outer cancel, a child failed: the ExceptionGroup, and the
    # cancel is not delivered again (UVTASK_FUZZ_KNOWN_FAULTS=2 expects the fault).
    "fault-2-group-redelivers": header() + spawn() + cmd(0, "scope_catch") +
    cmd(0, "scope_group") + cmd(0, "group_spawn") + cancel(0, "a") + cmd(0, "yield", 0) +
    cmd(0, "raise") + cmd(0, "probe"),
    # Fault 3: the body ends with a CancelledError nobody asked the task for (it awaited a task
    # cancelled by someone else): the children are cancelled with kind parent, not with the
    # task's stale kind and message (UVTASK_FUZZ_KNOWN_FAULTS=3 expects the fault).
    "fault-3-group-stale-cancel": header() + spawn() + cmd(0, "scope_catch") +
    cmd(0, "scope_group") + cmd(0, "group_spawn") + spawn() + cmd(0, "join", 1, 1) +
    cancel(2, "b") + cmd(1, "yield", 0) + cmd(0, "yield", 0),
    # Fault A: a move_on_after(0) whose work ran an inner wait_for(handle, 0) and ended with a
    # value keeps its own undelivered request pending after withdrawing it: the probe shows
    # cancel_requested() 1 (a stray CancelledError would hit the next suspension point).
    # UVTASK_FUZZ_KNOWN_FAULTS= (none) expects the contract: 0.
    "fault-a-stray-deadline-cancel": header() + spawn() + spawn() + cmd(1, "end", 5) +
    cancel(0, "a") + cmd(0, "scope_catch") + cmd(0, "yield", 0) +
    cmd(0, "scope_move_on", ZERO) + cmd(0, "wait_for_handle", 0, ZERO) + cmd(0, "end", 7) +
    cmd(0, "probe") + cmd(0, "yield", 0),
    # Queues closed with waiters; try_push/try_pop from tasks and from the driver.
    "queue-close": header("1") + spawn() + spawn() + cmd(0, "push", 0) + cmd(0, "push", 0) +
    cmd(0, "pop", 3) + close(0) + close(1) + cmd(0, "try_pop", 0) + cmd(0, "try_pop", 0) +
    cmd(0, "try_push", 0) + driver_pop(0),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(bytes(b % 256 for b in data))
    print(f"{len(SEEDS)} seeds written to {out}")


if __name__ == "__main__":
    main()
