// The one doctest main; test cases live in the *_test.cpp files.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>

int main(int argc, char** argv) {
    // The products' pool keeps all its threads at work however busy the host is (ctest runs
    // two suites at once): the tests of results at several thread counts must really run
    // those threads. The adaptive pool has its own test, on a pool of its own.
    setenv("TERNARY_CORE_SHARING", "fixed", 0);
    return doctest::Context(argc, argv).run();
}
