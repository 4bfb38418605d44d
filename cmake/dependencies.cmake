# CAF 0.17 ships no CMake config package: cmake/caf.cmake finds it by hand
# and wraps it in imported targets (installed with flowgate's own package for
# embedders). Boost 1.81 from Debian's libboost-*1.81-dev packages.
include(${CMAKE_CURRENT_LIST_DIR}/caf.cmake)
find_package(Boost 1.81.0 EXACT REQUIRED CONFIG COMPONENTS json unit_test_framework)
find_package(SQLite3 REQUIRED)
find_package(PostgreSQL REQUIRED)
