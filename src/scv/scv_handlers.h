/* scv_handlers: the SCV's route tables (PROTOCOL.md, "SCV"). Each handler
 * turns one request into one scv_streams call (and, for managers, a check
 * with the CC that the caller owns the target); the daemon's state is the
 * scv_service the server passes as the request's app. */
#ifndef ST_SCV_HANDLERS_H
#define ST_SCV_HANDLERS_H

#include "runtime/server.h"

/* Registers the routes; 0 or -1. */
int scv_manager_routes(struct server *s);
int scv_core_routes(struct server *s);

#endif
