// ExceptionGroup as a value: bad input is a named error, a moved-from group is safe to read.
#include <uvtask/exception_group.hpp>

#include <doctest/doctest.h>

#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using uvtask::ExceptionGroup;

TEST_SUITE("exception_group") {
    TEST_CASE("a null exception in the list is an invalid_argument naming its index") {
        // Found in review: the look-ups rethrew the null pointer (a SEGV inside libstdc++).
        std::vector<std::exception_ptr> list{std::make_exception_ptr(std::runtime_error("a")),
                                             std::exception_ptr{}};
        try {
            ExceptionGroup group(std::move(list));
            CHECK_FALSE(group.contains<std::logic_error>());  // reached only without the check
            FAIL("a group with a null exception was built");
        } catch (const std::invalid_argument& e) {
            CHECK(std::string(e.what()).find("index 1") != std::string::npos);
        }
    }

    TEST_CASE("a group finds its exceptions by type, in order") {
        ExceptionGroup group({std::make_exception_ptr(std::runtime_error("a")),
                              std::make_exception_ptr(std::logic_error("b"))});
        CHECK(group.size() == 2);
        CHECK(group.contains<std::logic_error>());
        REQUIRE(group.first_of<std::runtime_error>() != nullptr);
        CHECK(std::string(group.first_of<std::runtime_error>()->what()) == "a");
        CHECK(std::string(group.what()).find("(2 sub-exceptions): a") != std::string::npos);
    }

    TEST_CASE("a moved-from group reads as an empty one") {
        ExceptionGroup group({std::make_exception_ptr(std::runtime_error("a"))}, "m");
        ExceptionGroup taken(std::move(group));
        CHECK(taken.size() == 1);
        CHECK(group.size() == 0);  // NOLINT(bugprone-use-after-move): the rule under test
        CHECK(group.message().empty());
        CHECK(std::string(group.what()) == "ExceptionGroup (moved from)");
        CHECK_FALSE(group.contains<std::runtime_error>());
    }
}
