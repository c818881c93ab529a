// uvtask — everything: include this one header.
#pragma once

#include "uvtask/errors.hpp"
#include "uvtask/exception_handler.hpp"
#include "uvtask/loop.hpp"
#include "uvtask/non_cancellable.hpp"
#include "uvtask/run.hpp"
#include "uvtask/shield.hpp"
#include "uvtask/sleep.hpp"
#include "uvtask/spawn.hpp"
#include "uvtask/task.hpp"
#include "uvtask/task_handle.hpp"
#include "uvtask/this_task.hpp"
#include "uvtask/yield.hpp"
