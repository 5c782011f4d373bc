# The config library (TOML file + MESHKV_* environment + flags) and its test.
# Included from src/server/CMakeLists.txt.
add_library(meshkv_config STATIC ${CMAKE_CURRENT_LIST_DIR}/config.cc)
target_link_libraries(meshkv_config
  PUBLIC meshkv_model meshkv_trust Boost::headers
  PRIVATE PkgConfig::TOMLPP)

meshkv_test(config_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/config_test.cc
  LIBS meshkv_config)
