# The std_msgs / geometry_msgs / builtin_interfaces wheels on PyPI export CMake targets whose
# INTERFACE_INCLUDE_DIRECTORIES name directories of the machine that built the wheels (e.g.
# /opt/python/cp311-cp311/...). CMake refuses such targets at generate time ("Imported target ...
# includes non-existent path"). This removes directories that do not exist from every imported
# target of the top-level directory; with a regular ROS 2 installation every directory exists
# and nothing changes.

function(_prune_missing_include_dirs_now)
  get_directory_property(_targets DIRECTORY "${CMAKE_SOURCE_DIR}" IMPORTED_TARGETS)
  foreach(_target IN LISTS _targets)
    get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs)
      continue()
    endif()
    set(_kept)
    set(_changed FALSE)
    foreach(_dir IN LISTS _dirs)
      if(_dir MATCHES "^\\$<" OR EXISTS "${_dir}")
        list(APPEND _kept "${_dir}")
      else()
        set(_changed TRUE)
      endif()
    endforeach()
    if(_changed)
      set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_kept}")
    endif()
  endforeach()
endfunction()

# Deferred to the end of the top-level CMakeLists.txt, after every find_package has run.
macro(prune_missing_include_dirs)
  cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _prune_missing_include_dirs_now)
endmacro()
