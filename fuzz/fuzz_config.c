/* Fuzz target: the daemons' `key = value` config reader (config_parse, and
 * config_load from a file), for both daemon kinds (the first byte picks
 * one). A parse either fails with a message or fills every field with a
 * NUL-terminated value; a load that succeeds has a name that follows the
 * one server-name rule and TLS files all set or all empty. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "fuzz_support.h"
#include "util/fs.h"

static void check_string(const char *s, size_t cap)
{
    FUZZ_CHECK(memchr(s, '\0', cap) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    enum config_kind kind = data[0] & 1 ? CONFIG_SCV : CONFIG_CC;
    char *text = fuzz_cstr(data + 1, size - 1);
    struct status st = {STATUS_OK, ""};
    struct config c;
    config_defaults(&c, kind);
    if (config_parse(&c, text, "/fuzz/dir/cc.conf", &st) == STATUS_OK) {
        check_string(c.name, sizeof c.name);
        check_string(c.external_host, sizeof c.external_host);
        check_string(c.cc_pass, sizeof c.cc_pass);
        check_string(c.command_center, sizeof c.command_center);
        check_string(c.database, sizeof c.database);
        check_string(c.data_folder, sizeof c.data_folder);
        check_string(c.ssl_certfile, sizeof c.ssl_certfile);
        FUZZ_CHECK(c.kind == kind);
    } else {
        FUZZ_CHECK(st.code != STATUS_OK && st.msg[0] != '\0');
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/daemon.conf", fuzz_tmpdir());
    FUZZ_CHECK(fs_write_file(path, text, strlen(text), 0) == 0);
    status_clear(&st);
    if (config_load(&c, kind, path, &st) == STATUS_OK) {
        FUZZ_CHECK(config_name_ok(c.name));
        int tls = c.ssl_certfile[0] != '\0';
        FUZZ_CHECK((c.ssl_key[0] != '\0') == tls && (c.ssl_ca_certs[0] != '\0') == tls);
        FUZZ_CHECK(config_tls_enabled(&c) == tls);
    } else {
        FUZZ_CHECK(st.code != STATUS_OK && st.msg[0] != '\0');
    }
    free(text);
    return 0;
}
