# qnnc_add_model(): turn an ONNX model + YAML quantization config into C at build time.
# SPDX-License-Identifier: Apache-2.0
#
#   qnnc_add_model(TARGET app
#                  MODEL  model/kws.onnx     # relative to the calling CMakeLists.txt
#                  CONFIG model/kws.yaml
#                  [NAME kws]                # C prefix and file names; default: the config's name:,
#                                            # else the model's file stem
#                  [OUTPUT_DIR <dir>])       # default: ${CMAKE_CURRENT_BINARY_DIR}/qnnc/<NAME>
#
# At build time this runs `python -m qnnc build` under Zephyr's ${PYTHON_EXECUTABLE}
# whenever the model, the config, a file the config names (calibration and test data)
# or the generator's sources change, then compiles <NAME>.c, <NAME>_weights.c (and
# <NAME>_test_data.c when the config has test_data:) into TARGET, whose sources can
# `#include "<NAME>.h"`. The generator rewrites only files whose content changed, so
# a model that regenerates to the same C recompiles nothing. Needs CONFIG_QNNC=y.

get_filename_component(QNNC_ZEPHYR_MODULE_DIR ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)
set(QNNC_ZEPHYR_MODULE_DIR ${QNNC_ZEPHYR_MODULE_DIR} CACHE INTERNAL "qnnc Zephyr module")

# Decide how to run qnnc under ${PYTHON_EXECUTABLE}: the installed package if any,
# else the one of this repository (<repo>/plugin); check its Python dependencies
# and find the kernel runtime. Results go to global properties.
function(qnnc_setup_python)
  get_property(done GLOBAL PROPERTY QNNC_PYTHON_READY)
  if(done)
    return()
  endif()
  if(NOT PYTHON_EXECUTABLE)
    message(FATAL_ERROR "qnnc: PYTHON_EXECUTABLE is not set (call after find_package(Zephyr))")
  endif()

  get_filename_component(repo_plugin ${QNNC_ZEPHYR_MODULE_DIR}/../plugin ABSOLUTE)
  set(probe "import os, qnnc; print(os.path.dirname(os.path.abspath(qnnc.__file__)))")
  execute_process(COMMAND ${PYTHON_EXECUTABLE} -c "${probe}"
    WORKING_DIRECTORY ${CMAKE_BINARY_DIR}
    RESULT_VARIABLE rc OUTPUT_VARIABLE pkg_dir ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  set(pythonpath "")
  if(NOT rc EQUAL 0)
    if(NOT EXISTS ${repo_plugin}/qnnc/__init__.py)
      message(FATAL_ERROR
        "qnnc: the Python package 'qnnc' is not importable by ${PYTHON_EXECUTABLE} "
        "and ${repo_plugin}/qnnc does not exist. Install it with: "
        "${PYTHON_EXECUTABLE} -m pip install <qnnc repository>")
    endif()
    set(pythonpath ${repo_plugin})
    set(pkg_dir ${repo_plugin}/qnnc)
  endif()

  # Check the generator's dependencies without importing them (fast).
  set(check [=[
import importlib.util as u
need = [("numpy", "numpy"), ("onnx", "onnx"), ("yaml", "pyyaml")]
print(" ".join(p for m, p in need if u.find_spec(m) is None), end=";")
print("" if u.find_spec("onnxruntime") else "onnxruntime", end="")
]=])
  execute_process(COMMAND ${PYTHON_EXECUTABLE} -c "${check}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE found ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "qnnc: cannot run ${PYTHON_EXECUTABLE}: ${err}")
  endif()
  list(GET found 0 missing)
  list(GET found 1 missing_ort)
  if(missing)
    message(FATAL_ERROR
      "qnnc: the Python that Zephyr uses (${PYTHON_EXECUTABLE}) lacks ${missing}, "
      "which the qnnc generator needs. Install its dependencies with:\n"
      "  ${PYTHON_EXECUTABLE} -m pip install numpy onnx pyyaml\n"
      "and preferably also onnxruntime (faster, exact float reference runs):\n"
      "  ${PYTHON_EXECUTABLE} -m pip install onnxruntime")
  endif()
  if(missing_ort)
    message(STATUS "qnnc: onnxruntime not found, the generator falls back to onnx.reference "
                   "(slower; ${PYTHON_EXECUTABLE} -m pip install onnxruntime)")
  endif()

  set_property(GLOBAL PROPERTY QNNC_PYTHONPATH "${pythonpath}")
  _qnnc_run(runtime-path)
  string(STRIP "${out}" runtime_dir)
  if(NOT rc EQUAL 0 OR NOT EXISTS "${runtime_dir}/include/qnnc_kernels.h")
    message(FATAL_ERROR "qnnc: `${PYTHON_EXECUTABLE} -m qnnc runtime-path` failed "
                        "(exit ${rc}; printed '${runtime_dir}'):\n${err}")
  endif()

  if(pythonpath)
    message(STATUS "qnnc: generator from ${pkg_dir} (not installed for ${PYTHON_EXECUTABLE})")
  else()
    message(STATUS "qnnc: generator from ${pkg_dir}")
  endif()
  set_property(GLOBAL PROPERTY QNNC_PACKAGE_DIR "${pkg_dir}")
  set_property(GLOBAL PROPERTY QNNC_RUNTIME_DIR "${runtime_dir}")
  set_property(GLOBAL PROPERTY QNNC_PYTHON_READY TRUE)
endfunction()

# Run `python -m qnnc ARGS...` at configure time (with the repository's package on
# PYTHONPATH when qnnc is not installed); sets rc, out and err in the caller.
function(_qnnc_run)
  get_property(pythonpath GLOBAL PROPERTY QNNC_PYTHONPATH)
  set(saved "$ENV{PYTHONPATH}")
  if(pythonpath)
    if(CMAKE_HOST_WIN32)
      set(sep ";")
    else()
      set(sep ":")
    endif()
    if("${saved}" STREQUAL "")
      set(ENV{PYTHONPATH} "${pythonpath}")
    else()
      set(ENV{PYTHONPATH} "${pythonpath}${sep}${saved}")
    endif()
  endif()
  execute_process(COMMAND ${PYTHON_EXECUTABLE} -m qnnc ${ARGN}
    WORKING_DIRECTORY ${CMAKE_BINARY_DIR}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if("${saved}" STREQUAL "")
    unset(ENV{PYTHONPATH})
  else()
    set(ENV{PYTHONPATH} "${saved}")
  endif()
  set(rc "${rc}" PARENT_SCOPE)
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
endfunction()

function(qnnc_add_model)
  cmake_parse_arguments(QM "" "TARGET;MODEL;CONFIG;NAME;OUTPUT_DIR" "" ${ARGN})
  if(QM_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "qnnc_add_model: unknown arguments: ${QM_UNPARSED_ARGUMENTS}")
  endif()
  foreach(arg TARGET MODEL CONFIG)
    if(NOT QM_${arg})
      message(FATAL_ERROR "qnnc_add_model: ${arg} is required "
        "(qnnc_add_model(TARGET app MODEL model.onnx CONFIG model.yaml [NAME name]))")
    endif()
  endforeach()
  if(NOT CONFIG_QNNC)
    message(FATAL_ERROR "qnnc_add_model: set CONFIG_QNNC=y (e.g. in prj.conf)")
  endif()
  if(NOT TARGET ${QM_TARGET})
    message(FATAL_ERROR "qnnc_add_model: no target named '${QM_TARGET}'")
  endif()
  qnnc_setup_python()

  get_filename_component(model ${QM_MODEL} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
  get_filename_component(config ${QM_CONFIG} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
  foreach(arg MODEL CONFIG)
    string(TOLOWER ${arg} var)
    if(NOT EXISTS ${${var}})
      message(FATAL_ERROR "qnnc_add_model: ${arg} ${${var}} does not exist")
    endif()
  endforeach()
  if(QM_NAME)
    set(name ${QM_NAME})
    set(name_from "NAME '${name}'")
  else()
    # Same default as the qnnc command line: the config's name:, else the model's file stem.
    file(STRINGS ${config} name_line REGEX "^name[ \t]*:")
    if(name_line)
      string(REGEX REPLACE "^name[ \t]*:[ \t]*[\"']?([A-Za-z0-9_]*).*$" "\\1" name "${name_line}")
      set(name_from "")  # the config's name: is checked by qnnc itself (`qnnc deps` below), with its line
    else()
      get_filename_component(name ${model} NAME_WE)
      set(name_from "the model's file name '${name}' (no NAME given, no name: in the config)")
    endif()
  endif()
  # The generator's rules for the C prefix, checked here so that the error names what the
  # user wrote (NAME, the model's file name) rather than the generator's --name flag.
  string(LENGTH "${name}" name_length)
  string(TOLOWER "${name}" name_lower)
  if(NOT name_from)
  elseif(NOT name MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
    message(FATAL_ERROR "qnnc_add_model: ${name_from} is not a C identifier "
                        "(letters, digits, _; not starting with a digit); pass NAME <identifier>")
  elseif(name MATCHES "^(__|_[A-Z])")
    message(FATAL_ERROR "qnnc_add_model: ${name_from} is reserved in C "
                        "(names starting with '__' or '_' and a capital letter); pass another NAME")
  elseif(name_lower MATCHES "^qnnc")
    message(FATAL_ERROR "qnnc_add_model: ${name_from} is reserved: names starting with 'qnnc' "
                        "belong to the kernel library; pass another NAME")
  elseif(name_length GREATER 40)
    message(FATAL_ERROR "qnnc_add_model: ${name_from} has ${name_length} characters; "
                        "use at most 40 (symbols get suffixes); pass another NAME")
  endif()
  get_property(models GLOBAL PROPERTY QNNC_MODELS)
  if(name IN_LIST models)
    message(FATAL_ERROR "qnnc_add_model: a model named '${name}' was already added; pass a different NAME")
  endif()
  set_property(GLOBAL APPEND PROPERTY QNNC_MODELS ${name})
  if(QM_OUTPUT_DIR)
    get_filename_component(out_dir ${QM_OUTPUT_DIR} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_BINARY_DIR})
  else()
    set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/qnnc/${name})
  endif()

  get_property(pythonpath GLOBAL PROPERTY QNNC_PYTHONPATH)
  get_property(pkg_dir GLOBAL PROPERTY QNNC_PACKAGE_DIR)

  # Every input file of the model (the model, the config, calibration and test data, ...).
  _qnnc_run(deps ${model} --config ${config})
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "qnnc: model '${name}' (${model}, ${config}):\n${err}")
  endif()
  string(REGEX REPLACE "[\r\n]+" ";" deps "${out}")
  list(FILTER deps EXCLUDE REGEX "^$")
  # Editing the config can change that list and the set of outputs: reconfigure then.
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${config})
  file(GLOB_RECURSE generator_sources CONFIGURE_DEPENDS ${pkg_dir}/*.py)

  set(sources ${out_dir}/${name}.c ${out_dir}/${name}_weights.c)
  set(headers ${out_dir}/${name}.h ${out_dir}/${name}_build_id.h)
  file(STRINGS ${config} has_test_data REGEX "^test_data[ \t]*:")
  if(has_test_data)
    list(APPEND sources ${out_dir}/${name}_test_data.c)
    list(APPEND headers ${out_dir}/${name}_test_data.h)
  endif()
  set(stamp ${out_dir}/.${name}.stamp)
  set(expect ${sources} ${headers})
  list(JOIN expect "|" expect)
  if(CONFIG_QNNC_BUILD_REPORT)
    set(report ON)
  else()
    set(report OFF)
  endif()

  # The core the report's expected instructions are for (qnnc build --target); none: assumed.
  set(qnnc_target "")
  foreach(core M0 M0PLUS M3 M4 M7 M33 M55 M85)
    if(CONFIG_CPU_CORTEX_${core})
      string(TOLOWER ${core} qnnc_target)
    endif()
  endforeach()
  if(CONFIG_RISCV)
    set(qnnc_target riscv)
  endif()
  # The board's flash (KiB) for execution.wide_weights: auto, on cores whose builds run the DSP
  # path that links the int16 copy (an M33 built +nodsp, e.g. mps2_an521, links the int8 one).
  set(qnnc_flash_size "")
  if(CONFIG_CPU_CORTEX_M4 OR CONFIG_CPU_CORTEX_M7 OR (CONFIG_CPU_CORTEX_M33 AND CONFIG_ARMV8_M_DSP))
    set(qnnc_flash_size ${CONFIG_FLASH_SIZE})
  endif()
  add_custom_command(
    OUTPUT ${stamp}
    BYPRODUCTS ${sources} ${headers} ${out_dir}/${name}_report.json
    COMMAND ${CMAKE_COMMAND}
      -DQNNC_PYTHON=${PYTHON_EXECUTABLE}
      -DQNNC_PYTHONPATH=${pythonpath}
      -DQNNC_MODEL=${model}
      -DQNNC_CONFIG=${config}
      -DQNNC_NAME=${name}
      -DQNNC_OUTPUT_DIR=${out_dir}
      -DQNNC_REPORT=${report}
      -DQNNC_EXPECT=${expect}
      -DQNNC_STAMP=${stamp}
      -DQNNC_RAM_BUDGET=${CONFIG_QNNC_RAM_BUDGET}
      -DQNNC_FLASH_BUDGET=${CONFIG_QNNC_FLASH_BUDGET}
      -DQNNC_TARGET=${qnnc_target}
      -DQNNC_FLASH_SIZE=${qnnc_flash_size}
      -P ${QNNC_ZEPHYR_MODULE_DIR}/cmake/qnnc_generate.cmake
    DEPENDS ${model} ${config} ${deps} ${generator_sources}
            ${QNNC_ZEPHYR_MODULE_DIR}/cmake/qnnc_generate.cmake
    COMMENT "qnnc: generating C for model ${name}"
    VERBATIM)
  add_custom_target(qnnc_model_${name} DEPENDS ${stamp})
  add_dependencies(${QM_TARGET} qnnc_model_${name})

  set_source_files_properties(${sources} ${headers} PROPERTIES GENERATED TRUE)
  if(NOT "${CONFIG_QNNC_ARENA_SECTION}" STREQUAL "")
    set_property(SOURCE ${sources} APPEND PROPERTY
      COMPILE_DEFINITIONS "QNNC_ARENA_SECTION=\"${CONFIG_QNNC_ARENA_SECTION}\"")
  endif()
  if(CONFIG_QNNC_OPTIMIZE_SPEED)
    set_property(SOURCE ${sources} APPEND PROPERTY COMPILE_OPTIONS -O2)
  endif()
  target_sources(${QM_TARGET} PRIVATE ${sources})
  target_include_directories(${QM_TARGET} PRIVATE ${out_dir})
endfunction()
