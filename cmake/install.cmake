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
# `cmake --install --prefix DIR` works wherever DIR is.
file(RELATIVE_PATH secbits_pc_to_prefix "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
configure_file(${CMAKE_CURRENT_LIST_DIR}/secbits.pc.in ${PROJECT_BINARY_DIR}/secbits.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/secbits.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
