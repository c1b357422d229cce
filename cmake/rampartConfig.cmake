# find_package(rampart): the imported target rampart::rampart (the shared library and the
# public header rampart.h).
include(${CMAKE_CURRENT_LIST_DIR}/rampartTargets.cmake)
