# Included by the qnnc samples before find_package(Zephyr).
# SPDX-License-Identifier: Apache-2.0
#
# The samples live in the qnnc repository and use its Zephyr module, so that
# `west build -b <board> samples/zephyr/<sample>` needs no extra argument. Zephyr
# treats a module given twice (also as a west project, -DZEPHYR_EXTRA_MODULES or
# twister -x) as one: the last one of that name wins, and here both are this repository.
get_filename_component(QNNC_SAMPLE_MODULE ${CMAKE_CURRENT_LIST_DIR}/../../../zephyr_module ABSOLUTE)
if(DEFINED CACHE{ZEPHYR_EXTRA_MODULES})
  set(_qnnc_modules "$CACHE{ZEPHYR_EXTRA_MODULES}")
  if(NOT QNNC_SAMPLE_MODULE IN_LIST _qnnc_modules)
    list(APPEND _qnnc_modules ${QNNC_SAMPLE_MODULE})
    set_property(CACHE ZEPHYR_EXTRA_MODULES PROPERTY VALUE "${_qnnc_modules}")
  endif()
elseif(DEFINED ENV{ZEPHYR_EXTRA_MODULES})
  set(_qnnc_modules "$ENV{ZEPHYR_EXTRA_MODULES}")
  if(NOT QNNC_SAMPLE_MODULE IN_LIST _qnnc_modules)
    set(ENV{ZEPHYR_EXTRA_MODULES} "$ENV{ZEPHYR_EXTRA_MODULES};${QNNC_SAMPLE_MODULE}")
  endif()
else()
  list(APPEND ZEPHYR_EXTRA_MODULES ${QNNC_SAMPLE_MODULE})
endif()
