// Runs one fuzz program: decodes it step by step, applies each step to the model and to the real
// runtime, waits until the real puppets are quiet, and compares. Then winds every puppet down,
// checks that no queue item was lost or duplicated, and closes the loop (uv_loop_close must
// return 0).
#pragma once

#include <cstddef>
#include <cstdint>

#include "model.hpp"

namespace uvtask::fuzz {

/// The clock seam. Today the fuzzer runs on real time, so timed operations are short and used
/// only where nothing else can move until they fire. When the runtime gets virtual time (the
/// loop option of docs/semantics.md's testing tools), `virtual_time` switches it on for the
/// fuzz loop, the driver's waits for a timer become instant, and the decoder may then emit
/// real-duration deadlines racing with other work (the model's timers fire in deadline order).
struct ClockOptions {
    bool virtual_time = false;
};

struct FuzzOptions {
    bool verbose = false;  // print every step and every puppet's log
    KnownFaults faults;
    ClockOptions clock;
};

/// What the runs of a process have done (printed by the fuzz target at exit).
struct FuzzStats {
    std::uint64_t programs = 0;
    std::uint64_t steps = 0;
    std::uint64_t remote_cancels = 0;
    std::uint64_t races_cancel_first = 0;         // the remote cancel reached the operation
    std::uint64_t races_cancel_after = 0;         // it landed once the operation had ended
    std::uint64_t races_cancel_while_ending = 0;  // ... while the puppet's body was ending
    std::uint64_t trace_hash = 0;                 // of the last program's interleaving
};

/// Runs the program `data` decodes to. False (after printing the program, the step, what the
/// model expected and what happened) if the runtime diverged from the model or broke an
/// invariant.
bool run_program(const std::uint8_t* data, std::size_t size, const FuzzOptions& options,
                 FuzzStats& stats);

}  // namespace uvtask::fuzz
