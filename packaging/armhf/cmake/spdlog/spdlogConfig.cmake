# spdlog for the static cross build: header-only over header-only fmt (Debian ships no static
# spdlog or fmt archives, and its spdlog_header_only target links the shared libfmt).
include(CMakeFindDependencyMacro)
find_dependency(Threads)
find_dependency(fmt)
if(NOT TARGET spdlog::spdlog_header_only)
  add_library(spdlog::spdlog_header_only INTERFACE IMPORTED)
  set_target_properties(spdlog::spdlog_header_only PROPERTIES
    INTERFACE_COMPILE_DEFINITIONS "SPDLOG_FMT_EXTERNAL"
    INTERFACE_LINK_LIBRARIES "Threads::Threads;fmt::fmt-header-only")
  add_library(spdlog::spdlog INTERFACE IMPORTED)
  set_target_properties(spdlog::spdlog PROPERTIES INTERFACE_LINK_LIBRARIES spdlog::spdlog_header_only)
endif()
set(spdlog_VERSION 1.10.0)
set(spdlog_FOUND TRUE)
