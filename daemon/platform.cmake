# Kernel and service-manager signals for the daemon's triggers (resume, systemd notify).
# Included from daemon/CMakeLists.txt.
add_library(booklore_platform STATIC
  ${CMAKE_CURRENT_LIST_DIR}/resume_detector.cpp
  ${CMAKE_CURRENT_LIST_DIR}/sd_notify.cpp)
target_link_libraries(booklore_platform PUBLIC booklore_build_flags booklore_logging Boost::headers)
