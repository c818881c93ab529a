// uvtask internals — every public header starts here: uvtask needs C++20 (coroutines, concepts).
// The installed pkg-config and CMake files do not force a -std flag (a consumer may build with
// C++23 or gnu++20); a consumer compiling with an older standard gets one clear error here and
// the compilation stops (the missing include below is fatal), instead of pages of template errors.
#pragma once

#if __cplusplus < 202002L || !defined(__cpp_impl_coroutine)
#error "uvtask needs C++20 coroutines: compile with -std=c++20 or later (c++23, gnu++20, ...)"
#include "uvtask: stop here, C++20 is required"
#endif
