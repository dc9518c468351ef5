/* The chat page at `/`: one self-contained HTML file (src/client/page/chat.html) compiled into
 * the binary, so a person with only the client can try the network from a browser or from
 * Telegram as a Mini App. The page uses the same API as any application. */
#include "client_internal.h"

extern const unsigned char client_page_html[];
extern const size_t client_page_html_len;

static void serve_page(http_req *hreq, void *ud)
{
    (void)ud;
    /* Everything the page needs is inline and it talks only to this origin: the policy says so,
     * so an injected script or a rogue connection cannot take prompts elsewhere. */
    http_reply_header(
        hreq, "Content-Security-Policy",
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'");
    http_reply_header(hreq, "X-Content-Type-Options", "nosniff");
    http_reply_header(hreq, "Referrer-Policy", "no-referrer");
    http_reply_header(hreq, "Cache-Control", "no-cache");
    http_reply(hreq, 200, "text/html; charset=utf-8", client_page_html, client_page_html_len);
}

void client_page_register(client *c)
{
    http_server_route(c->http, "GET", "/", serve_page, c);
}
