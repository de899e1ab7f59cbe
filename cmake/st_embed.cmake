# st_embed(TARGET PREFIX FILE...): compiles the bytes of FILEs into TARGET
# through embed_files.cmake (see there for the symbols), regenerated when a
# file changes.
function(st_embed target prefix)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${prefix}_files.c)
  foreach(f ${ARGN})
    if(NOT EXISTS ${f})
      message(FATAL_ERROR "${f} is missing (scripts/deps.sh installs what the build needs)")
    endif()
  endforeach()
  string(REPLACE ";" "|" files_arg "${ARGN}")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DPREFIX=${prefix} -DFILES=${files_arg} -P
            ${CMAKE_SOURCE_DIR}/cmake/embed_files.cmake
    DEPENDS ${ARGN} ${CMAKE_SOURCE_DIR}/cmake/embed_files.cmake
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
