/* Internal glue between the http module's files (not part of the public API). */
#ifndef COCOON_HTTP_INTERNAL_H
#define COCOON_HTTP_INTERNAL_H

#include "http.h"

typedef struct http_stats_page http_stats_page;

void http_stats_page_free(http_stats_page *p);
/* The server's slot holding its stats page registration (owned by the server). */
http_stats_page **http_server_stats_slot(http_server *s);
struct event_base *http_req_base(const http_req *r);
http_server *http_req_server(const http_req *r);

#endif
