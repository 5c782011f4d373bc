# The gossip keyring (issue 3). Included by this folder's CMakeLists.txt after
# it defines meshkv_membership.
target_sources(meshkv_membership PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/keyring.cc)
target_link_libraries(meshkv_membership PUBLIC PkgConfig::SODIUM)
meshkv_test(keyring_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/keyring_test.cc LIBS meshkv_membership)
