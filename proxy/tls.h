/*
 * tls — HTTPS on the daemon's listener: the one server SSL_CTX built from the node's `httpscert`.
 *
 * `httpscert` names one PEM file holding the certificate (followed by any intermediate certificates)
 * and its unencrypted private key, like the relay's `ssl-combined-pem`. The context offers HTTP/2 and
 * HTTP/1.1 through ALPN (h2o picks its HTTP/2 or HTTP/1 handler from the outcome), accepts TLS 1.2 and
 * later only, prefers the server's cipher order, never compresses, and resumes sessions (server-side
 * cache and tickets).
 */
#ifndef IP_TLS_H
#define IP_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

/* Builds the listener's SSL_CTX from the combined PEM at @pem_path. Returns the context, owned by the
 * caller (free it with ip_tls_free() once no loop uses it any more), or NULL with one line naming the
 * file and the reason written to @err: missing, not a regular file, unreadable, no certificate, no
 * private key (an encrypted key counts: the daemon never prompts), or a key that does not belong to
 * the certificate. Startup only, before the loop threads run; the returned context may then be set
 * as `ssl_ctx` of every loop's h2o_accept_ctx_t and used by all loop threads at once. */
SSL_CTX *ip_tls_context(const char *pem_path, char *err, size_t errcap);

/* Releases a context from ip_tls_context(); NULL is ignored. After every loop thread has stopped. */
void ip_tls_free(SSL_CTX *ctx);

#endif
