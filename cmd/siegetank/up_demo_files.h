/* The seed files of `siegetank up`'s OpenMM demo: alanine dipeptide in
 * implicit water, as tools/prepare.py made them (share/up-demo/README.md),
 * compiled in by cmake/embed_files.cmake. Each array ends in a NUL that
 * its _len does not count. */
#ifndef ST_UP_DEMO_FILES_H
#define ST_UP_DEMO_FILES_H

#include <stddef.h>

extern const unsigned char up_demo_system_xml[];
extern const size_t up_demo_system_xml_len;
extern const unsigned char up_demo_state_xml[];
extern const size_t up_demo_state_xml_len;
extern const unsigned char up_demo_integrator_xml[];
extern const size_t up_demo_integrator_xml_len;

#endif
