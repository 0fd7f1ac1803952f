include(CMakePackageConfigHelpers)

install(TARGETS secbits EXPORT secbitsTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/secbits DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(secbits_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/secbits)
install(EXPORT secbitsTargets NAMESPACE secbits:: DESTINATION ${secbits_cmake_dir})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/secbitsConfig.cmake.in
  ${PROJECT_BINARY_DIR}/secbitsConfig.cmake INSTALL_DESTINATION ${secbits_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/secbitsConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/secbitsConfig.cmake ${PROJECT_BINARY_DIR}/secbitsConfigVersion.cmake
  DESTINATION ${secbits_cmake_dir})

# The .pc file finds the prefix from its own location, so an install with
# `cmake --install --prefix DIR` works wherever DIR is. Two modules: secbits
# carries flags a C compiler accepts with -Werror, secbits-cxx adds the C++
# standard the C++ headers need.
file(RELATIVE_PATH secbits_pc_to_prefix "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
foreach(module secbits secbits-cxx)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/${module}.pc.in ${PROJECT_BINARY_DIR}/${module}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/${module}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()

# secbits-run (preload/) and secbits-audit say which release they belong to
# (--version), as their manual pages do.
target_compile_definitions(secbits-audit PRIVATE SECBITS_VERSION="${PROJECT_VERSION}")

# The manual pages carry the version and the library directory of this build.
foreach(page secbits-run.1 secbits-audit.1 secbits.7 secbits.h.3)
  string(REGEX MATCH "[0-9]$" section ${page})
  configure_file(${PROJECT_SOURCE_DIR}/man/${page}.in ${PROJECT_BINARY_DIR}/man/${page} @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/man/${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
