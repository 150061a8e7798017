# sdk:install-and-build-template: what a plugin author does, end to end, against this build.
#
#   1. `cmake --install` this build into a staging prefix, then move the prefix elsewhere (the
#      package must be relocatable) and check the layout;
#   2. configure and build examples/plugin-template against it with find_package(llmops) only;
#   3. run the template's own tests (unit test with a fake StepContext, pipeline run);
#   4. with the INSTALLED llmops: list and describe plugins, validate a good and a bad pipeline,
#      run the template's pipeline and check the report it sealed.
#
# Run as: cmake -DSOURCE_DIR=<llmops source> -DBINARY_DIR=<llmops build> -DWORK_DIR=<scratch>
#               [-DGENERATOR=Ninja] [-DCTEST_COMMAND=ctest] [-DCXX_COMPILER=c++]
#               -P install_template.cmake
cmake_minimum_required(VERSION 3.20)

foreach(v SOURCE_DIR BINARY_DIR WORK_DIR)
  if(NOT ${v})
    message(FATAL_ERROR "install_template.cmake: -D${v}=... is required")
  endif()
endforeach()
if(NOT GENERATOR)
  set(GENERATOR Ninja)
endif()
if(NOT CTEST_COMMAND)
  get_filename_component(_bin ${CMAKE_COMMAND} DIRECTORY)
  set(CTEST_COMMAND ${_bin}/ctest)
endif()

set(template ${SOURCE_DIR}/examples/plugin-template)
set(stage ${WORK_DIR}/stage)
set(prefix ${WORK_DIR}/prefix)
set(tbuild ${WORK_DIR}/template-build)
set(home ${WORK_DIR}/home)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
# Everything below (the template's own tests too) uses a private plugin descriptor cache.
set(ENV{XDG_CACHE_HOME} ${WORK_DIR}/cache)

# Runs a command; fails the test with its output unless it exits 0. OUTPUT_VAR receives stdout.
function(step what)
  cmake_parse_arguments(PARSE_ARGV 1 a "" "OUTPUT_VAR;WORKING_DIRECTORY" "COMMAND")
  if(NOT a_WORKING_DIRECTORY)
    set(a_WORKING_DIRECTORY ${WORK_DIR})
  endif()
  message(STATUS "${what}")
  execute_process(COMMAND ${a_COMMAND} WORKING_DIRECTORY ${a_WORKING_DIRECTORY}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what}: failed (${rc})\n$ ${a_COMMAND}\n${out}\n${err}")
  endif()
  if(a_OUTPUT_VAR)
    set(${a_OUTPUT_VAR} "${out}" PARENT_SCOPE)
  endif()
endfunction()

function(expect_match what regex text)
  if(NOT text MATCHES "${regex}")
    message(FATAL_ERROR "${what}: expected to match '${regex}', got:\n${text}")
  endif()
endfunction()

# 1. Install, relocate, check the layout.
set(ENV{DESTDIR} "")
step("install ${BINARY_DIR} into ${stage}" COMMAND ${CMAKE_COMMAND} --install ${BINARY_DIR}
     --prefix ${stage})
file(RENAME ${stage} ${prefix})
foreach(f bin/llmops lib/llmops/plugins/llmops-plugin-noop.so include/llmops/plugin.hpp
          include/llmops/status.hpp include/llmops/artifacts.hpp
          include/llmops/testing/fake_step_context.hpp lib/cmake/llmops/llmopsConfig.cmake
          lib/cmake/llmops/llmopsConfigVersion.cmake lib/cmake/llmops/llmopsTargets.cmake
          share/llmops/schemas/pipeline.schema.json)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
file(GLOB test_only ${prefix}/lib/llmops/plugins/llmops-plugin-bad-abi*)
if(test_only)
  message(FATAL_ERROR "test-only plugin installed: ${test_only}")
endif()
file(GLOB_RECURSE cmake_files ${prefix}/lib/cmake/llmops/*.cmake)
foreach(f ${cmake_files})
  file(READ ${f} text)
  foreach(p ${stage} ${SOURCE_DIR} ${BINARY_DIR})
    string(FIND "${text}" "${p}" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "${f} names ${p}: the package is not relocatable")
    endif()
  endforeach()
endforeach()

# 2. Build the template against the installed SDK alone (no package registry, no build tree).
set(configure ${CMAKE_COMMAND} -S ${template} -B ${tbuild} -G ${GENERATOR}
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/template-prefix)
if(CXX_COMPILER)
  list(APPEND configure -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
endif()
step("configure the template" COMMAND ${configure})
file(STRINGS ${tbuild}/CMakeCache.txt llmops_dir REGEX "^llmops_DIR:")
expect_match("llmops_DIR" "=${prefix}/lib/cmake/llmops$" "${llmops_dir}")
step("build the template" COMMAND ${CMAKE_COMMAND} --build ${tbuild})
set(plugin_dir ${tbuild}/plugins)
if(NOT EXISTS ${plugin_dir}/llmops-plugin-word-count.so)
  message(FATAL_ERROR "the template did not build ${plugin_dir}/llmops-plugin-word-count.so")
endif()
step("install the template" COMMAND ${CMAKE_COMMAND} --install ${tbuild})
if(NOT EXISTS ${WORK_DIR}/template-prefix/lib/llmops/plugins/llmops-plugin-word-count.so)
  message(FATAL_ERROR "the template's install rule did not install its plugin")
endif()

# 3. The template's own tests.
step("run the template's tests" COMMAND ${CTEST_COMMAND} --output-on-failure
     WORKING_DIRECTORY ${tbuild} OUTPUT_VAR out)
expect_match("template tests" "word-count:unit" "${out}")
expect_match("template tests" "word-count:run" "${out}")

# 4. The installed llmops with the template's plugin folder on LLMOPS_PLUGIN_PATH.
set(llmops ${prefix}/bin/llmops)
set(env ${CMAKE_COMMAND} -E env LLMOPS_PLUGIN_PATH=${plugin_dir} LLMOPS_HOME=${home} NO_COLOR=1)
step("plugins list (installed built-ins only)" COMMAND ${CMAKE_COMMAND} -E env
     --unset=LLMOPS_PLUGIN_PATH LLMOPS_HOME=${home} ${llmops} plugins list --json OUTPUT_VAR out)
# (paths are printed canonical: match their ends, in case the work folder is behind a symlink)
expect_match("plugins list" "\"testing/noop\"" "${out}")
expect_match("plugins list" "/prefix/lib/llmops/plugins/llmops-plugin-noop\\.so\"" "${out}")
step("plugins list" COMMAND ${env} ${llmops} plugins list --json OUTPUT_VAR out)
expect_match("plugins list" "\"curator/word-count\"" "${out}")
expect_match("plugins list" "/template-build/plugins/llmops-plugin-word-count\\.so\"" "${out}")
step("plugins describe" COMMAND ${env} ${llmops} plugins describe curator/word-count
     OUTPUT_VAR out)
expect_match("plugins describe" "1\\.0\\.0" "${out}")
expect_match("plugins describe" "min_length" "${out}")
expect_match("plugins describe" "counts +report" "${out}")

step("validate" COMMAND ${env} ${llmops} validate pipelines/word-count.yaml
     WORKING_DIRECTORY ${template})
file(WRITE ${WORK_DIR}/bad.yaml [=[
apiVersion: llmops/v1
kind: Pipeline
name: bad
steps:
  count:
    uses: curator/word-count
    with: {top: many, colour: blue}
]=])
execute_process(COMMAND ${env} ${llmops} validate ${WORK_DIR}/bad.yaml
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "validate accepted a step whose `with:` breaks the plugin's schema")
endif()
expect_match("validate bad.yaml" "bad.yaml:7:[0-9]+: error: .*top" "${out}${err}")
expect_match("validate bad.yaml" "colour" "${out}${err}")

step("run the pipeline" COMMAND ${env} ${llmops} run pipelines/word-count.yaml
     -p text=${template}/data/sample.txt -p top=3 WORKING_DIRECTORY ${template}
     OUTPUT_VAR out)
# The report is sealed into the store: find it there rather than trusting any printed path.
file(GLOB_RECURSE reports ${home}/*counts.json)
if(NOT reports)
  message(FATAL_ERROR "no counts.json sealed under ${home}; run output:\n${out}")
endif()
list(GET reports 0 report)
file(READ ${report} json)
string(JSON words GET "${json}" words)
string(JSON top_n LENGTH "${json}" top)
string(JSON first GET "${json}" top 0 word)
if(NOT words EQUAL 47 OR NOT top_n EQUAL 3 OR NOT first STREQUAL "the")
  message(FATAL_ERROR "unexpected report ${report}:\n${json}")
endif()
message(STATUS "ok: ${words} words, top word '${first}'")
