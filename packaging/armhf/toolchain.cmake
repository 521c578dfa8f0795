# Cross toolchain for the fully static armhf build (Debian 12: crossbuild-essential-armhf).
#
# Libraries with code (OpenSSL, SQLite) come from Debian's armhf -dev packages unpacked into a
# private sysroot by build.sh (no multiarch install: see platform.md §6). Header-only libraries
# (Boost, RapidJSON, spdlog, fmt, Catch2) come from the host's /usr/include, which Debian's cross
# g++ searches after its own directories; their CMake package files are replaced by the small
# ones in cmake/ so nothing links a host shared library.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)
set(CMAKE_LIBRARY_ARCHITECTURE arm-linux-gnueabihf)

if(NOT BOOKLORE_ARMHF_SYSROOT AND DEFINED ENV{BOOKLORE_ARMHF_SYSROOT})
  set(BOOKLORE_ARMHF_SYSROOT "$ENV{BOOKLORE_ARMHF_SYSROOT}")
endif()
if(NOT BOOKLORE_ARMHF_SYSROOT)
  set(BOOKLORE_ARMHF_SYSROOT "${CMAKE_CURRENT_LIST_DIR}/sysroot")
endif()
set(BOOKLORE_ARMHF_SYSROOT "${BOOKLORE_ARMHF_SYSROOT}" CACHE PATH "Unpacked armhf -dev packages")
# try_compile projects read this file again: hand them the same sysroot.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES BOOKLORE_ARMHF_SYSROOT)
if(NOT EXISTS "${BOOKLORE_ARMHF_SYSROOT}/usr/lib/arm-linux-gnueabihf/libssl.a")
  message(FATAL_ERROR "No armhf sysroot at ${BOOKLORE_ARMHF_SYSROOT}: run packaging/armhf/build.sh (it makes one)")
endif()

# Sysroot headers first: the host's own OpenSSL headers must not be picked up.
# -Wno-psabi: GCC notes that ARM parameter passing changed in GCC 7.1; everything here is built
# by one compiler, so the note is noise.
set(_booklore_inc "-Wno-psabi -isystem ${BOOKLORE_ARMHF_SYSROOT}/usr/include/arm-linux-gnueabihf -isystem ${BOOKLORE_ARMHF_SYSROOT}/usr/include")
set(CMAKE_C_FLAGS_INIT "${_booklore_inc}")
set(CMAKE_CXX_FLAGS_INIT "${_booklore_inc}")

set(CMAKE_FIND_ROOT_PATH "${BOOKLORE_ARMHF_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_FIND_LIBRARY_SUFFIXES .a)

set(OPENSSL_USE_STATIC_LIBS TRUE)
set(OPENSSL_ROOT_DIR "${BOOKLORE_ARMHF_SYSROOT}/usr")

# Package files: Boost's own (header-only use), ours for the rest.
set(Boost_DIR "/usr/lib/x86_64-linux-gnu/cmake/Boost-1.81.0" CACHE PATH "")
set(boost_headers_DIR "/usr/lib/x86_64-linux-gnu/cmake/boost_headers-1.81.0" CACHE PATH "")
set(fmt_DIR "${CMAKE_CURRENT_LIST_DIR}/cmake/fmt" CACHE PATH "")
set(spdlog_DIR "${CMAKE_CURRENT_LIST_DIR}/cmake/spdlog" CACHE PATH "")
set(Catch2_DIR "${CMAKE_CURRENT_LIST_DIR}/cmake/Catch2" CACHE PATH "")

# ctest runs the unit tests through user-mode qemu (no binfmt registration needed).
find_program(BOOKLORE_QEMU_ARM qemu-arm-static)
if(BOOKLORE_QEMU_ARM)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${BOOKLORE_QEMU_ARM}")
endif()
