# Cross-compiling for 64-bit Windows with Debian's mingw-w64 (package
# g++-mingw-w64-x86-64-posix: the "posix" thread model, which std::thread and
# std::jthread need). CTest runs the .exe files under Wine.
#
#   cmake -S . -B build-win \
#     -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake
#   cmake --build build-win -j2
#   WINEPREFIX=$PWD/build-win/wine WINEDEBUG=-all ctest --test-dir build-win
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(_triple x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${_triple}-gcc-posix)
set(CMAKE_CXX_COMPILER ${_triple}-g++-posix)
set(CMAKE_RC_COMPILER ${_triple}-windres)

# Static runtime: the tests run the programs under Wine, which does not
# know where Debian keeps libstdc++-6.dll and libwinpthread-1.dll.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

find_program(FILELOCK_WINE NAMES wine wine64)
if(FILELOCK_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${FILELOCK_WINE})
endif()

# The header-only dependencies (CLI11, doctest, nlohmann_json) come from the
# build machine's /usr, but adding /usr/include to a Windows compile would
# let glibc's headers shadow mingw's. So the search root is a small tree of
# links that holds only their CMake packages and their include directories;
# each package computes its include path from where its config file was
# found, which is inside that tree.
set(_root ${CMAKE_BINARY_DIR}/host-deps/usr)
foreach(_link
    share/cmake/CLI11 include/CLI
    include/doctest
    share/cmake/nlohmann_json include/nlohmann)
  if(EXISTS /usr/${_link} AND NOT EXISTS ${_root}/${_link})
    get_filename_component(_dir ${_root}/${_link} DIRECTORY)
    file(MAKE_DIRECTORY ${_dir})
    file(CREATE_LINK /usr/${_link} ${_root}/${_link} SYMBOLIC)
  endif()
endforeach()
# Debian's doctest package names /usr/include outright, so it gets a small
# package of our own that reuses its CMake modules (doctest_discover_tests).
if(EXISTS /usr/lib/cmake/doctest AND
   NOT EXISTS ${_root}/lib/cmake/doctest/doctestConfig.cmake)
  file(WRITE ${_root}/lib/cmake/doctest/doctestConfig.cmake [=[
if(NOT TARGET doctest::doctest)
  list(APPEND CMAKE_MODULE_PATH /usr/lib/cmake/doctest)
  add_library(doctest::doctest INTERFACE IMPORTED)
  set_target_properties(doctest::doctest PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${CMAKE_CURRENT_LIST_DIR}/../../../include")
endif()
]=])
endif()

set(CMAKE_FIND_ROOT_PATH /usr/${_triple} ${CMAKE_BINARY_DIR}/host-deps)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
