/* openmm_xml: checks a stream's OpenMM XML files with expat before OpenMM
 * reads them. OpenMM's XmlSerializer trusts its input (it casts each
 * object's node to the class its reader expects and has no size or depth
 * limits), so everything that could mislead it is refused here: files
 * missing or over OPENMM_ENGINE_MAX_FILE_BYTES (openmm_engine.h names the files), malformed XML, a DOCTYPE,
 * nesting deeper than 256, a root or force/function node of the wrong type,
 * and state.xml's positions (and velocities, when present) not matching
 * system.xml's particles. Pure: no OpenMM, no I/O. */
#ifndef ST_OPENMM_XML_H
#define ST_OPENMM_XML_H

#include <stddef.h>

#include "core/core_engine.h"

/* The three files found among a stream's files. */
struct openmm_xml_files {
    const core_file *system, *state, *integrator;
};

/* 0 with the files in out when all three pass; -1 with the reason. */
int openmm_xml_check(const core_file *files, size_t nfiles, struct openmm_xml_files *out, char *err,
                     size_t errlen);

#endif
