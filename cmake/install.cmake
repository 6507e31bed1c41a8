# Installs the core as a CMake package (find_package(filelock) giving
# filelock::core, with a version file) and a pkg-config file.
include(CMakePackageConfigHelpers)

set(FILELOCK_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/filelock)

install(TARGETS filelock_core EXPORT filelockTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/core/include/filelock
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.hpp")
install(FILES ${PROJECT_BINARY_DIR}/core/include/filelock/version.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/filelock)

install(EXPORT filelockTargets
  NAMESPACE filelock::
  DESTINATION ${FILELOCK_CMAKE_DIR})
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/filelockConfig.cmake.in
  ${PROJECT_BINARY_DIR}/filelockConfig.cmake
  INSTALL_DESTINATION ${FILELOCK_CMAKE_DIR})
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/filelockConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/filelockConfig.cmake
  ${PROJECT_BINARY_DIR}/filelockConfigVersion.cmake
  DESTINATION ${FILELOCK_CMAKE_DIR})

configure_file(${PROJECT_SOURCE_DIR}/cmake/filelock.pc.in
  ${PROJECT_BINARY_DIR}/filelock.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/filelock.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
