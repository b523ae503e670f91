/*
 * auth — client authentication on /write, /query and the introspection endpoints.
 *
 * DESIGN: the answers must be the ones an influxd 1.6 with auth enabled gives, so the credentials
 * are parsed with the same rules as Go's net/url and net/http (a query pair with a bad %-escape or a
 * ';' is ignored, the first valid `u`/`p` wins; Basic is case-insensitive and needs padded base64
 * and a ':'), and the failures are sorted into influxd's four texts. The comparison hashes both
 * sides with SHA-256 and compares the digests with CRYPTO_memcmp, so neither the content nor the
 * length of the configured username or password changes the time an attempt takes; username and
 * password are always both compared.
 */
#include "auth.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "http_util.h"

/* influxd 1.6's texts, typo included ("disabld" was fixed in later releases). */
#define MSG_UNPARSABLE "unable to parse authentication credentials"
#define MSG_NO_USERNAME "username required"
#define MSG_FAILED "authorization failed"
#define MSG_BEARER "bearer auth disabld"

typedef struct st_auth_creds_t {
    h2o_iovec_t username, password;
} auth_creds_t;

static int is_method(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

static int is_path(h2o_iovec_t path, const char *p)
{
    return h2o_memis(path.base, path.len, p, strlen(p));
}

int ip_auth_required(h2o_req_t *req)
{
    h2o_iovec_t path = hu_path(req);

    if (is_method(req, "OPTIONS"))
        return 0;
    if (is_path(path, "/write"))
        return is_method(req, "POST");
    if (is_path(path, "/query"))
        return is_method(req, "GET") || is_method(req, "POST");
    return is_path(path, "/meta") || is_path(path, "/metrics") || is_path(path, "/reload");
}

/* ---- parsing, with Go's rules ---- */

/* The first valid value of `u` and of `p` in the query string, as url.Values.Get finds them. */
static void query_creds(h2o_req_t *req, h2o_iovec_t *u, h2o_iovec_t *p)
{
    static const char *const names[] = {"u", "p"};
    h2o_iovec_t *const slots[] = {u, p};
    unsigned char found[2] = {0};

    hu_params(&req->pool, hu_query_string(req), names, 2, slots, found);
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* base64.StdEncoding.DecodeString: CR and LF are skipped, the padding is required, nothing may follow
 * it, unused trailing bits are allowed. Returns the decoded length (in @out, room for len bytes) or -1. */
static ssize_t b64_decode(const char *s, size_t len, unsigned char *out)
{
    char q[4];
    size_t nq = 0, o = 0;
    int done = 0;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\r' || s[i] == '\n')
            continue;
        if (done)
            return -1;
        q[nq++] = s[i];
        if (nq < 4)
            continue;
        nq = 0;
        int v[4];
        for (int k = 0; k < 4; k++)
            v[k] = q[k] == '=' && k >= 2 ? -2 : b64val((unsigned char)q[k]);
        if (v[0] < 0 || v[1] < 0 || v[2] == -1 || v[3] == -1 || (v[2] == -2 && v[3] != -2))
            return -1;
        out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
        if (v[2] >= 0)
            out[o++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
        if (v[3] >= 0)
            out[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
        done = v[3] == -2;
    }
    return nq == 0 ? (ssize_t)o : -1;
}

/* Returns NULL and fills @c from the Authorization header, or the text influxd answers with. */
static const char *header_creds(h2o_req_t *req, auth_creds_t *c)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0 || req->headers.entries[i].value.len == 0)
        return MSG_UNPARSABLE;
    h2o_iovec_t v = req->headers.entries[i].value;

    /* strings.Split(v, " ") giving exactly {"Bearer", token} */
    const char *sp = memchr(v.base, ' ', v.len);
    if (sp != NULL && memchr(sp + 1, ' ', v.len - (size_t)(sp + 1 - v.base)) == NULL &&
        h2o_memis(v.base, (size_t)(sp - v.base), H2O_STRLIT("Bearer")))
        return MSG_BEARER;

    if (v.len < 6 || !h2o_lcstris(v.base, 6, H2O_STRLIT("basic ")))
        return MSG_UNPARSABLE;
    unsigned char *d = h2o_mem_alloc_pool(&req->pool, v.len);
    ssize_t n = b64_decode(v.base + 6, v.len - 6, d);
    if (n < 0)
        return MSG_UNPARSABLE;
    unsigned char *colon = memchr(d, ':', (size_t)n);
    if (colon == NULL)
        return MSG_UNPARSABLE;
    c->username = h2o_iovec_init(d, (size_t)(colon - d));
    c->password = h2o_iovec_init(colon + 1, (size_t)(d + n - colon - 1));
    return NULL;
}

/* ---- comparison ---- */

/* 1 when @a equals @b; the time depends on the lengths only through SHA-256 of each. */
static int ct_equal(h2o_iovec_t a, const char *b)
{
    unsigned char da[EVP_MAX_MD_SIZE], db[EVP_MAX_MD_SIZE];
    int ok = 1;

    memset(da, 0, sizeof(da));
    memset(db, 0xff, sizeof(db)); /* a failed digest never matches */
    ok &= EVP_Digest(a.base, a.len, da, NULL, EVP_sha256(), NULL);
    ok &= EVP_Digest(b, strlen(b), db, NULL, EVP_sha256(), NULL);
    return (CRYPTO_memcmp(da, db, 32) == 0) & ok;
}

static const char *verify(const auth_creds_t *c, const cfg_node_t *node)
{
    if (c->username.len == 0)
        return MSG_NO_USERNAME;
    int user_ok = *node->username == '\0' ? 1 : ct_equal(c->username, node->username);
    int pass_ok = ct_equal(c->password, node->password);
    return (user_ok & pass_ok) ? NULL : MSG_FAILED;
}

/* ---- answer ---- */

static void send_401(h2o_req_t *req, const char *msg)
{
    size_t mlen = strlen(msg);
    size_t len = sizeof("{\"error\":\"\"}\n") - 1 + mlen;
    char *body = h2o_mem_alloc_pool(&req->pool, len + 1);

    /* the texts hold nothing JSON would escape */
    snprintf(body, len + 1, "{\"error\":\"%s\"}\n", msg);
    req->res.status = 401;
    req->res.reason = hu_reason(401);
    hu_add_influx_headers(req);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    /* influxd sends the challenge instead of X-Influxdb-Error on a 401 */
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("www-authenticate"), 0, "Www-Authenticate",
                          H2O_STRLIT("Basic realm=\"InfluxDB\""));
    req->res.content_length = len;
    h2o_send_inline(req, body, len);
}

int ip_auth_check(h2o_req_t *req, const cfg_node_t *node)
{
    auth_creds_t c = {{NULL, 0}, {NULL, 0}};
    const char *msg = NULL;

    if (*node->password == '\0' || !ip_auth_required(req))
        return 0;
    query_creds(req, &c.username, &c.password);
    if (c.username.len == 0 || c.password.len == 0)
        msg = header_creds(req, &c);
    if (msg == NULL)
        msg = verify(&c, node);
    if (msg == NULL)
        return 0;
    send_401(req, msg);
    return -1;
}
