// run()'s end after a Ctrl-C: the process ends the way Ctrl-C ends a program, or
// KeyboardInterrupt for an application that handles it itself (RunOptions::exit_on_sigint).
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <signal.h>

#include "uvtask/detail/loop_core.hpp"
#include "uvtask/errors.hpp"
#include "uvtask/loop.hpp"
#include "uvtask/run.hpp"

namespace uvtask::detail {

void end_if_interrupted(Loop& loop, TaskState& main, const RunOptions& options) {
    if (main.ending() != Ending::cancelled || !LoopAccess::core(loop).sigint_seen()) {
        return;
    }
    if (!options.exit_on_sigint) {
        throw KeyboardInterrupt();
    }
    // Dying by a signal skips the stdio buffers and the iostreams: flush them first, so what the
    // program printed during its clean shutdown is not lost.
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    std::signal(SIGINT, SIG_DFL);
    sigset_t only_sigint;
    sigemptyset(&only_sigint);
    sigaddset(&only_sigint, SIGINT);
    pthread_sigmask(SIG_UNBLOCK, &only_sigint, nullptr);
    std::raise(SIGINT);
    // Not delivered (it cannot be, short of a signal mask changed meanwhile): end with the status a shell gives a
    // program killed by SIGINT.
    std::_Exit(128 + SIGINT);
}

}  // namespace uvtask::detail
