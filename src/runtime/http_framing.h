/* http_framing: the message-framing checks of RFC 9112 §6.1/§6.3 that h2o
 * 2.2.5 does not make. h2o keeps Content-Length and Transfer-Encoding out
 * of req->headers, prefers Transfer-Encoding when both are sent and takes
 * the first of several Content-Lengths, so a front end that framed the
 * message the other way would see the rest of it as another request
 * (request smuggling). The server runs this on the raw request head, still
 * at the start of the connection's input when the handler is called, and
 * answers 400 and closes the connection when it fails. Pure. */
#ifndef ST_HTTP_FRAMING_H
#define ST_HTTP_FRAMING_H

#include <stddef.h>

/* head: the bytes of an HTTP/1.x request from its request line on (what
 * follows the blank line that ends the head is not read). NULL when the
 * framing is unambiguous; else why not: both Content-Length and
 * Transfer-Encoding, Content-Lengths that differ, or more than one
 * Transfer-Encoding. */
const char *http_framing_check(const char *head, size_t len);

#endif
