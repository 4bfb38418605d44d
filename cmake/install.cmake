# Installation and packages.
#
# - `cmake --install BUILD [--prefix P]`: the `flowgate` binary and its
#   systemd unit (component `server`); the static libraries, headers
#   (include/flowgate/...) and a CMake package (lib/cmake/flowgate) for
#   embedders (component `dev`): find_package(flowgate) then link
#   flowgate::flowgate, and flowgate::http for the HTTP/JSON API and
#   /metrics (examples/consumer builds examples/embed.cpp so).
# - `cpack -G DEB` in the build directory: flowgate_VERSION_ARCH.deb (the
#   server component; dependencies from dpkg-shlibdeps) and
#   flowgate-dev_VERSION_ARCH.deb.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# What an embedder links: the whole library (flowgate::flowgate).
add_library(flowgate_library INTERFACE)
target_link_libraries(flowgate_library INTERFACE flowgate_actors)
set_target_properties(flowgate_library PROPERTIES EXPORT_NAME flowgate)
set_target_properties(flowgate_http PROPERTIES EXPORT_NAME http)
set_target_properties(flowgate_views PROPERTIES EXPORT_NAME views)

install(TARGETS flowgate RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT server)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/flowgate.service
        DESTINATION lib/systemd/system COMPONENT server)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/flowgate.default
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/flowgate RENAME flowgate.default.example
        COMPONENT server)

install(TARGETS flowgate_library flowgate_options flowgate_messages flowgate_config
                flowgate_engine flowgate_persistence flowgate_actors flowgate_views
                flowgate_http
        EXPORT flowgateTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
foreach(dir messages config engine persistence actors api)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/flowgate
          COMPONENT dev FILES_MATCHING PATTERN "*.hpp")
endforeach()
set(FLOWGATE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/flowgate)
install(EXPORT flowgateTargets NAMESPACE flowgate:: DESTINATION ${FLOWGATE_CMAKE_DIR}
        COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/flowgateConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/flowgateConfig.cmake
                              INSTALL_DESTINATION ${FLOWGATE_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/flowgateConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/flowgateConfig.cmake
              ${PROJECT_BINARY_DIR}/flowgateConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/caf.cmake
        DESTINATION ${FLOWGATE_CMAKE_DIR} COMPONENT dev)

set(CPACK_PACKAGE_NAME flowgate)
set(CPACK_PACKAGE_VENDOR "flowgate")
set(CPACK_PACKAGE_CONTACT "flowgate maintainers <flowgate@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "multi-tenant durable workflow runtime")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL server dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_SERVER_PACKAGE_NAME flowgate)
set(CPACK_DEBIAN_SERVER_PACKAGE_SECTION net)
set(CPACK_DEBIAN_SERVER_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_DEV_PACKAGE_NAME flowgate-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "libcaf-dev (>= 0.17), libcaf-dev (<< 0.18), libboost-json1.81-dev, libsqlite3-dev, libpq-dev, libhowardhinnant-date-dev, libssl-dev, prometheus-cpp-dev, libboost1.81-dev")
set(CPACK_COMPONENT_SERVER_DESCRIPTION
    "flowgate: the server and admin binary (flowgate serve) with a systemd unit")
set(CPACK_COMPONENT_DEV_DESCRIPTION
    "flowgate: static libraries, headers and CMake package to embed flowgate")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
include(CPack)
