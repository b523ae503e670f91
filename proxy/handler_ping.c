/*
 * handler_ping — GET|HEAD /ping, as InfluxDB answers it: 204, or 200 with the version when
 * verbose=true. It says the proxy is up, not that any backend is (that is /health).
 */
#include <string.h>
#include "http_util.h"
#include "server.h"

void ip_handle_ping(h2o_req_t *req)
{
    h2o_iovec_t v;

    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        hu_send_error(req, 405, "method not allowed");
        return;
    }
    if (hu_param(&req->pool, hu_query_string(req), "verbose", &v) && v.len != 0 &&
        !h2o_memis(v.base, v.len, H2O_STRLIT("false")) && !h2o_memis(v.base, v.len, H2O_STRLIT("0"))) {
        static const char body[] = "{\"version\":\"" IP_INFLUX_VERSION "\"}\n";
        hu_send_json(req, 200, body, sizeof(body) - 1);
        return;
    }
    hu_send_empty(req, 204);
}
