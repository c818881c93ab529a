// The libFuzzer entry point: each input is a program of uvtask operations (tests/fuzz/README.md),
// run on a fresh loop and checked against the reference model. A divergence prints the decoded
// program and aborts (libFuzzer keeps the input). At exit the process prints how many programs,
// steps and cross-thread races it ran and how many distinct interleavings it saw.
//
// Environment: UVTASK_FUZZ_VERBOSE=1 prints every step and log (to replay one input);
// UVTASK_FUZZ_KNOWN_FAULTS=2,3,a makes the model expect the behaviour of those faults, and only
// those (KnownFaults; unset: the faults today's runtime is known to have).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <algorithm>
#include <vector>

#include "driver.hpp"

namespace {

using uvtask::fuzz::FuzzOptions;
using uvtask::fuzz::FuzzStats;

FuzzOptions options_from_environment() {
    FuzzOptions options;
    const char* verbose = std::getenv("UVTASK_FUZZ_VERBOSE");
    options.verbose = verbose != nullptr && std::strcmp(verbose, "0") != 0;
    // Unset: the faults today's runtime has (KnownFaults' defaults); "" or "none": none.
    if (const char* faults = std::getenv("UVTASK_FUZZ_KNOWN_FAULTS")) {
        const std::string list = std::string(",") + faults + ",";
        options.faults.group_redelivers_cancel = list.find(",2,") != std::string::npos;
        options.faults.group_forwards_stale_cancel = list.find(",3,") != std::string::npos;
        options.faults.scope_keeps_request_after_withdrawn_newer =
            list.find(",a,") != std::string::npos;
    }
    return options;
}

struct Totals {
    // Room reserved up front: an input that allocates and does not free looks like a leak to
    // libFuzzer, which then runs it again under LeakSanitizer.
    Totals() { interleavings.reserve(1 << 20); }
    /// Adds `hash` to the sorted list of interleavings seen.
    void seen(std::uint64_t hash) {
        const auto at = std::lower_bound(interleavings.begin(), interleavings.end(), hash);
        if ((at == interleavings.end() || *at != hash) &&
            interleavings.size() < interleavings.capacity()) {
            interleavings.insert(at, hash);
        }
    }
    FuzzStats stats;
    std::vector<std::uint64_t> interleavings;
    ~Totals() {
        std::fprintf(stderr,
                     "uvtask fuzz: %llu programs, %llu steps, %zu distinct interleavings, %llu "
                     "cancels from another thread (races: %llu reached the operation, %llu "
                     "landed after it, %llu of them while the task was ending)\n",
                     static_cast<unsigned long long>(stats.programs),
                     static_cast<unsigned long long>(stats.steps), interleavings.size(),
                     static_cast<unsigned long long>(stats.remote_cancels),
                     static_cast<unsigned long long>(stats.races_cancel_first),
                     static_cast<unsigned long long>(stats.races_cancel_after),
                     static_cast<unsigned long long>(stats.races_cancel_while_ending));
    }
};

Totals& totals() {
    static Totals t;
    return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const FuzzOptions options = options_from_environment();
    Totals& t = totals();
    if (!uvtask::fuzz::run_program(data, size, options, t.stats)) {
        std::abort();
    }
    t.seen(t.stats.trace_hash);
    return 0;
}
