# The installed CMake package for plugin authors: find_package(llmops) gives the INTERFACE target
# llmops::sdk (the headers in include/llmops/) and the function llmops_add_plugin(). Included once
# from the top-level CMakeLists.txt; everything it installs is relocatable (no absolute paths).
include(CMakePackageConfigHelpers)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/llmops DESTINATION include COMPONENT sdk
        FILES_MATCHING PATTERN "*.hpp")

# The SDK target is exported as llmops::sdk (the build tree's alias of llmops_sdk has that name).
set_target_properties(llmops_sdk PROPERTIES EXPORT_NAME sdk)
install(TARGETS llmops_sdk EXPORT llmopsTargets COMPONENT sdk)
install(EXPORT llmopsTargets NAMESPACE llmops:: DESTINATION ${LLMOPS_INSTALL_CMAKE_DIR}
        COMPONENT sdk)

# The ABI the installed headers declare, so authors can print or check it at configure time.
file(STRINGS ${PROJECT_SOURCE_DIR}/include/llmops/plugin.hpp _llmops_abi
     REGEX "^#define LLMOPS_ABI_(MAJOR|MINOR) [0-9]+")
string(REGEX REPLACE ".*LLMOPS_ABI_MAJOR ([0-9]+).*" "\\1" LLMOPS_ABI_MAJOR "${_llmops_abi}")
string(REGEX REPLACE ".*LLMOPS_ABI_MINOR ([0-9]+).*" "\\1" LLMOPS_ABI_MINOR "${_llmops_abi}")

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/llmopsConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/llmopsConfig.cmake
  INSTALL_DESTINATION ${LLMOPS_INSTALL_CMAKE_DIR}
  PATH_VARS LLMOPS_INSTALL_PLUGIN_DIR LLMOPS_INSTALL_SCHEMA_DIR)
# The package version is llmops' version; the plugin ABI is checked separately at load time.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/llmopsConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/llmopsConfig.cmake
              ${PROJECT_BINARY_DIR}/cmake/llmopsConfigVersion.cmake
        DESTINATION ${LLMOPS_INSTALL_CMAKE_DIR} COMPONENT sdk)
