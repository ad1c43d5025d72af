# Build-time step of qnnc_add_model(): run the generator, report, touch the stamp.
# SPDX-License-Identifier: Apache-2.0
# cmake -DQNNC_PYTHON=... -DQNNC_PYTHONPATH=... -DQNNC_MODEL=... -DQNNC_CONFIG=...
#       -DQNNC_NAME=... -DQNNC_OUTPUT_DIR=... -DQNNC_REPORT=ON|OFF -DQNNC_EXPECT=<file>|<file>...
#       -DQNNC_STAMP=... [-DQNNC_RAM_BUDGET=... -DQNNC_FLASH_BUDGET=... -DQNNC_TARGET=m4
#       -DQNNC_FLASH_SIZE=<KiB>] -P qnnc_generate.cmake

if(QNNC_PYTHONPATH)
  if(CMAKE_HOST_WIN32)
    set(sep ";")
  else()
    set(sep ":")
  endif()
  if(DEFINED ENV{PYTHONPATH} AND NOT "$ENV{PYTHONPATH}" STREQUAL "")
    set(ENV{PYTHONPATH} "${QNNC_PYTHONPATH}${sep}$ENV{PYTHONPATH}")
  else()
    set(ENV{PYTHONPATH} "${QNNC_PYTHONPATH}")
  endif()
endif()

set(budgets "")
if(QNNC_RAM_BUDGET AND NOT QNNC_RAM_BUDGET EQUAL 0)
  list(APPEND budgets --ram-budget ${QNNC_RAM_BUDGET})
endif()
if(QNNC_FLASH_BUDGET AND NOT QNNC_FLASH_BUDGET EQUAL 0)
  list(APPEND budgets --flash-budget ${QNNC_FLASH_BUDGET})
endif()
if(budgets)
  # Budget errors name the Kconfig symbols the user set, not the generator's flags.
  list(APPEND budgets --budget-origin "ram=CONFIG_QNNC_RAM_BUDGET,flash=CONFIG_QNNC_FLASH_BUDGET")
endif()
if(QNNC_TARGET)
  list(APPEND budgets --target ${QNNC_TARGET})  # from CONFIG_CPU_CORTEX_*/CONFIG_RISCV (qnnc.cmake)
endif()
if(QNNC_FLASH_SIZE AND NOT QNNC_FLASH_SIZE EQUAL 0)
  # CONFIG_FLASH_SIZE (KiB, from the board's chosen zephyr,flash): execution.wide_weights: auto
  list(APPEND budgets --flash-size ${QNNC_FLASH_SIZE}KiB)
endif()
execute_process(
  COMMAND ${QNNC_PYTHON} -m qnnc build ${QNNC_MODEL}
          --config ${QNNC_CONFIG} --output ${QNNC_OUTPUT_DIR} --name ${QNNC_NAME} --runtime none --require-calibration ${budgets}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(STRIP "${out}" out)
string(STRIP "${err}" err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "qnnc: generating model '${QNNC_NAME}' from ${QNNC_MODEL} "
                      "failed (exit ${rc}):\n${err}\n${out}")
endif()
string(REPLACE "|" ";" expect "${QNNC_EXPECT}")
foreach(f ${expect})
  if(NOT EXISTS ${f})
    message(FATAL_ERROR "qnnc: the generator did not write ${f}")
  endif()
endforeach()
if(err)
  message("${err}")  # warnings
endif()
if(QNNC_REPORT)
  message("${out}\n  (report: ${QNNC_OUTPUT_DIR}/${QNNC_NAME}_report.json)")
endif()
file(TOUCH ${QNNC_STAMP})
