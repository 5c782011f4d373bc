# The client side of the `meshkv` command line (put/get/del/ls/status and the
# record and zone verbs, over the HTTP API). Included from
# src/cli/CMakeLists.txt; paths are relative to this file so it works from any
# including directory.
add_library(meshkv_cli_client STATIC
  ${CMAKE_CURRENT_LIST_DIR}/http_client.cc
  ${CMAKE_CURRENT_LIST_DIR}/client_common.cc
  ${CMAKE_CURRENT_LIST_DIR}/client_commands.cc
  ${CMAKE_CURRENT_LIST_DIR}/record_commands.cc)
target_link_libraries(meshkv_cli_client PUBLIC
  meshkv_base meshkv_dns_wire meshkv_records CLI11::CLI11 nlohmann_json::nlohmann_json
  Boost::headers Threads::Threads)

meshkv_test(http_client_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/http_client_test.cc
  LIBS meshkv_cli_client)

meshkv_test(record_commands_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/record_commands_test.cc
  LIBS meshkv_cli_client)
