// The driver's state for one program, and what it does to the real runtime in each step.
#pragma once

#include <uvtask/uvtask.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "decoder.hpp"
#include "driver.hpp"
#include "model.hpp"
#include "puppet.hpp"

namespace uvtask::fuzz {

/// How long the driver waits for the puppets to reach the state the model predicts. Generous:
/// a correct run gets there in microseconds, or in the few milliseconds of a timed operation.
inline constexpr auto settle_limit = std::chrono::seconds(5);
/// ... and at least this many of its rounds (a yield, or a 1 ms sleep once the yields are used up).
inline constexpr int settle_rounds = 2000;

struct Context {
    Context(const std::uint8_t* data, std::size_t size, const FuzzOptions& o, FuzzStats& s)
        : options(o), stats(s), decoder(data, size),
          model(decoder.capacity(0), decoder.capacity(1), o.faults),
          world(decoder.capacity(0), decoder.capacity(1)) {}
    const FuzzOptions& options;
    FuzzStats& stats;
    Decoder decoder;
    Model model;
    World world;
    std::vector<std::string> program;
    std::vector<ExceptionContext> reports;
    std::string failure;
    std::string settle_report;  // why the last wait for the puppets gave up
    std::uint64_t polls = 0;  // loop iterations (a uv_prepare_t of the driver's, before each poll)
};

struct Actual {
    std::optional<bool> cancel_result;
    std::string driver_result;
};

/// Records the divergence: the program so far, both states and the logs.
void fail(Context& c, const Model& model, const std::string& what);
/// Does `s` to the real runtime; what the driver itself saw.
Task<Actual> perform(Context& c, const Step& s);
/// No queue item lost or duplicated; empty if so.
std::string check_items(Context& c);

}  // namespace uvtask::fuzz
