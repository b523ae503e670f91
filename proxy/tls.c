/*
 * tls — the listener's server SSL_CTX, built from the node's combined PEM (`httpscert`).
 *
 * DESIGN: the file is read once into a capped buffer and every object is parsed from that copy, so
 * the checks and the context see the same bytes and each failure can be named precisely: a file
 * that cannot be opened, no certificate, no key, an encrypted key, a key that belongs to another
 * certificate. Certificate and key are parsed into objects and compared before they go into the
 * context, because SSL_CTX_use_certificate() silently drops a key that does not match it and the
 * later error would only say "no private key assigned". One context serves every loop thread:
 * OpenSSL 3 contexts are safe to share once configured, and sharing also shares the session cache
 * and the ticket keys, so a client resumes whichever thread accepts its next connection.
 */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <h2o.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* A certificate file with a long chain is a few tens of kB; anything far bigger is not one. */
#define PEM_MAX_BYTES (1024 * 1024)

/* TLS 1.2 suites with forward secrecy and AEAD (TLS 1.3 suites are OpenSSL's defaults, all good). */
#define TLS12_CIPHERS                                                                                                  \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"                         \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                           \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"

#define SESSION_ID_CONTEXT "influxdb-proxy"

typedef struct st_tls_pem_t {
    char *bytes;
    size_t len;
} tls_pem_t;

/* The reason of the most recent OpenSSL error, for the end of a message. */
static const char *ssl_reason(void)
{
    const char *r = ERR_reason_error_string(ERR_peek_last_error());
    return r != NULL ? r : "unknown error";
}

static int read_pem(const char *path, tls_pem_t *pem, char *err, size_t errcap)
{
    struct stat st;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    pem->bytes = NULL;
    pem->len = 0;
    if (fd < 0) {
        snprintf(err, errcap, "httpscert %s: cannot open: %s", path, strerror(errno));
        goto Error;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errcap, "httpscert %s: not a regular file", path);
        goto Error;
    }
    if (st.st_size > PEM_MAX_BYTES) {
        snprintf(err, errcap, "httpscert %s: larger than %d bytes, not a PEM certificate file", path, PEM_MAX_BYTES);
        goto Error;
    }
    pem->bytes = malloc((size_t)st.st_size + 1);
    if (pem->bytes == NULL)
        abort();
    /* Read what the file holds now, up to the cap, even if it changed size since fstat(). */
    while (pem->len < (size_t)st.st_size) {
        n = read(fd, pem->bytes + pem->len, (size_t)st.st_size - pem->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errcap, "httpscert %s: cannot read: %s", path, strerror(errno));
            goto Error;
        }
        if (n == 0)
            break;
        pem->len += (size_t)n;
    }
    pem->bytes[pem->len] = '\0';
    close(fd);
    return 0;

Error:
    if (fd >= 0)
        close(fd);
    free(pem->bytes);
    pem->bytes = NULL;
    return -1;
}

static int is_no_start_line(unsigned long e)
{
    return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

/* The first certificate of @pem (the server's own, whatever comes before or after it). */
static X509 *parse_cert(const char *path, const tls_pem_t *pem, char *err, size_t errcap)
{
    BIO *bio = BIO_new_mem_buf(pem->bytes, (int)pem->len);
    X509 *cert = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL);

    if (cert == NULL && is_no_start_line(ERR_peek_last_error()))
        snprintf(err, errcap, "httpscert %s: no certificate (no \"-----BEGIN CERTIFICATE-----\" block)", path);
    else if (cert == NULL)
        snprintf(err, errcap, "httpscert %s: cannot parse the certificate: %s", path, ssl_reason());
    BIO_free(bio);
    return cert;
}

/* Never asked for a passphrase: an encrypted key is refused rather than read from a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static EVP_PKEY *parse_key(const char *path, const tls_pem_t *pem, char *err, size_t errcap)
{
    BIO *bio = BIO_new_mem_buf(pem->bytes, (int)pem->len);
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);

    BIO_free(bio);
    if (key != NULL)
        return key;
    if (strstr(pem->bytes, "ENCRYPTED PRIVATE KEY-----") != NULL ||
        strstr(pem->bytes, "Proc-Type: 4,ENCRYPTED") != NULL)
        snprintf(err, errcap, "httpscert %s: the private key is encrypted; store it without a passphrase", path);
    else if (strstr(pem->bytes, "PRIVATE KEY-----") == NULL)
        snprintf(err, errcap, "httpscert %s: no private key (no \"-----BEGIN ... PRIVATE KEY-----\" block)", path);
    else
        snprintf(err, errcap, "httpscert %s: cannot parse the private key: %s", path, ssl_reason());
    return NULL;
}

/* The certificates after the first one: the chain sent to clients. */
static int add_chain(SSL_CTX *ctx, const char *path, const tls_pem_t *pem, char *err, size_t errcap)
{
    BIO *bio = BIO_new_mem_buf(pem->bytes, (int)pem->len);
    X509 *cert = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL);

    X509_free(cert); /* the server's own, already in the context */
    for (;;) {
        cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (cert == NULL)
            break;
        if (SSL_CTX_add0_chain_cert(ctx, cert) != 1) {
            X509_free(cert);
            snprintf(err, errcap, "httpscert %s: cannot use a chain certificate: %s", path, ssl_reason());
            goto Error;
        }
    }
    if (!is_no_start_line(ERR_peek_last_error())) {
        snprintf(err, errcap, "httpscert %s: cannot parse a chain certificate: %s", path, ssl_reason());
        goto Error;
    }
    BIO_free(bio);
    return 0;

Error:
    BIO_free(bio);
    return -1;
}

static void set_policy(SSL_CTX *ctx)
{
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS);
    SSL_CTX_set_dh_auto(ctx, 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)SESSION_ID_CONTEXT, sizeof(SESSION_ID_CONTEXT) - 1);
    SSL_CTX_set_timeout(ctx, 3600);
    /* h2o reads the chosen protocol after the handshake: "h2" gets HTTP/2, anything else HTTP/1. */
    h2o_ssl_register_alpn_protocols(ctx, h2o_alpn_protocols);
}

SSL_CTX *ip_tls_context(const char *pem_path, char *err, size_t errcap)
{
    tls_pem_t pem = {NULL, 0};
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    SSL_CTX *ctx = NULL;

    ERR_clear_error();
    if (read_pem(pem_path, &pem, err, errcap) != 0)
        goto Error;
    cert = parse_cert(pem_path, &pem, err, errcap);
    if (cert == NULL)
        goto Error;
    key = parse_key(pem_path, &pem, err, errcap);
    if (key == NULL)
        goto Error;
    if (X509_check_private_key(cert, key) != 1) {
        snprintf(err, errcap, "httpscert %s: the private key does not match the certificate", pem_path);
        goto Error;
    }
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        abort();
    if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errcap, "httpscert %s: cannot use the certificate and key: %s", pem_path, ssl_reason());
        goto Error;
    }
    if (add_chain(ctx, pem_path, &pem, err, errcap) != 0)
        goto Error;
    set_policy(ctx);
    X509_free(cert);
    EVP_PKEY_free(key);
    free(pem.bytes);
    ERR_clear_error();
    return ctx;

Error:
    SSL_CTX_free(ctx);
    X509_free(cert);
    EVP_PKEY_free(key);
    free(pem.bytes);
    ERR_clear_error();
    return NULL;
}

void ip_tls_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}
