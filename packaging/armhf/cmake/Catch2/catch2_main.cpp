// The Catch2 v2 main() for the cross-compiled unit tests.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
