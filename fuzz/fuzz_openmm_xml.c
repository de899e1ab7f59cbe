/* Fuzz target: openmm_xml_check, the expat pass that stands between a
 * stream's files and OpenMM's trusting XML reader. The input is split at
 * its first two NUL bytes into system.xml, state.xml and integrator.xml
 * (a part missing from the input is left out of the file list). A passing
 * set must hold all three files, each non-empty and within the size limit,
 * and each must end its root element (expat saw the whole file); a refusal
 * must give a reason. The same input must get the same verdict twice. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/openmm_engine.h"
#include "core/openmm_xml.h"
#include "fuzz_support.h"

static size_t split(const uint8_t *data, size_t size, core_file files[3])
{
    static const char *const names[3] = {OPENMM_ENGINE_SYSTEM_FILE, OPENMM_ENGINE_STATE_FILE,
                                         OPENMM_ENGINE_INTEGRATOR_FILE};
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size && n < 3; i++) {
        if (i < size && (data[i] != 0 || n == 2))
            continue;
        files[n] = (core_file){.name = names[n], .data = data + start, .len = i - start};
        n++;
        start = i + 1;
    }
    return n;
}

static int ends_an_element(const core_file *f)
{
    const char *text = f->data;
    size_t i = f->len;
    while (i > 0 && (text[i - 1] == ' ' || text[i - 1] == '\t' || text[i - 1] == '\r' || text[i - 1] == '\n'))
        i--;
    return i > 0 && text[i - 1] == '>';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    core_file files[3];
    size_t n = split(data, size, files);
    struct openmm_xml_files found;
    char err[256] = "";
    int rc = openmm_xml_check(files, n, &found, err, sizeof err);
    if (rc != 0) {
        FUZZ_CHECK(rc == -1);
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof err) != NULL);
    } else {
        FUZZ_CHECK(n == 3);
        const core_file *got[3] = {found.system, found.state, found.integrator};
        for (int i = 0; i < 3; i++) {
            FUZZ_CHECK(got[i] == &files[i]);
            FUZZ_CHECK(got[i]->len > 0 && got[i]->len <= OPENMM_ENGINE_MAX_FILE_BYTES);
            FUZZ_CHECK(ends_an_element(got[i]));
        }
    }
    char again[256] = "";
    FUZZ_CHECK(openmm_xml_check(files, n, &found, again, sizeof again) == rc);
    FUZZ_CHECK(strcmp(err, again) == 0);
    return 0;
}
