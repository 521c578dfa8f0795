# Catch2 v2 for the cross build: the host's libCatch2WithMain.a is x86, so the main is compiled
# here for the target from the header-only catch.hpp.
if(NOT TARGET Catch2::Catch2)
  add_library(Catch2::Catch2 INTERFACE IMPORTED)
  add_library(booklore_catch2_main STATIC "${CMAKE_CURRENT_LIST_DIR}/catch2_main.cpp")
  add_library(Catch2::Catch2WithMain ALIAS booklore_catch2_main)
endif()
set(Catch2_VERSION 2.13.10)
set(Catch2_FOUND TRUE)
