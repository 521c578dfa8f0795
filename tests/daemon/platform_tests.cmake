# Unit tests of daemon/platform.cmake; included from tests/daemon/CMakeLists.txt.
booklore_unit_test(test_platform
  ${CMAKE_CURRENT_LIST_DIR}/test_resume_detector.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_sd_notify.cpp)
target_link_libraries(test_platform PRIVATE booklore_platform)
