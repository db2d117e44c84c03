/* The transport baseline: a libfcgi responder that answers every request
   with `size` bytes of JSON-ish filler (size from the query string), so the
   benchmark can compare avalon-fcgi with the cost of nginx + FastCGI alone. */
#include <fcgiapp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    static char body[4 << 20];
    memset(body, 'x', sizeof body);
    FCGX_Request req;
    FCGX_Init();
    FCGX_InitRequest(&req, 0, 0);
    while (FCGX_Accept_r(&req) >= 0) {
        const char *qs = FCGX_GetParam("QUERY_STRING", req.envp);
        long size = qs && strncmp(qs, "size=", 5) == 0 ? atol(qs + 5) : 6;
        if (size < 0 || size > (long)sizeof body) size = 6;
        FCGX_FPrintF(req.out, "Status: 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: %ld\r\n\r\n", size);
        FCGX_PutStr(body, (int)size, req.out);
        FCGX_Finish_r(&req);
    }
    return 0;
}
