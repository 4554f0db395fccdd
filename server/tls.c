/* tls.c: --tls-cert and --tls-key checked with GnuTLS before the server starts.
 *
 * Three steps, the first failing one named: each file alone (a certificate list, a
 * private key), then the pair on fresh credentials, as libmicrohttpd will load it;
 * GnuTLS reports a key that is not the certificate's at that last step
 * (GNUTLS_E_CERTIFICATE_KEY_MISMATCH). libmicrohttpd 0.9.75 finds the same problems,
 * but only as MHD_start_daemon() failing, after the data dir was set up: three log
 * lines ending in "cannot listen ...: Input/output error" and exit 1. Files are taken
 * up to their first NUL byte, as libmicrohttpd takes them (strlen). */
#include "server/tls.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/io.h"

/* A file as read, and the part of it GnuTLS is given. */
struct pem_file {
    char *text; /* malloc'ed, NUL-terminated */
    size_t len; /* of the whole file */
    gnutls_datum_t d;
};

static int read_pem(struct pem_file *f, const char *flag, const char *path, char *err,
                    size_t errlen)
{
    int ret = io_read_file(path, TLS_FILE_MAX, &f->text, &f->len);

    if (ret) {
        snprintf(err, errlen, "cannot read %s '%s': %s", flag, path, strerror(-ret));
        return ret;
    }
    f->d.data = (unsigned char *)f->text;
    f->d.size = (unsigned int)strlen(f->text);
    return 0;
}

static int check_cert(const char *path, const gnutls_datum_t *d, char *err, size_t errlen)
{
    gnutls_x509_crt_t *crts;
    unsigned int n = 0;

    if (gnutls_x509_crt_list_import2(&crts, &n, d, GNUTLS_X509_FMT_PEM, 0) < 0) {
        snprintf(err, errlen, "--tls-cert '%s' holds no PEM certificate", path);
        return -EINVAL;
    }
    for (unsigned int i = 0; i < n; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
    return 0;
}

static int check_key(const char *path, const gnutls_datum_t *d, char *err, size_t errlen)
{
    gnutls_x509_privkey_t key;
    int ret;

    if (gnutls_x509_privkey_init(&key) < 0) {
        snprintf(err, errlen, "cannot check --tls-key '%s': out of memory", path);
        return -ENOMEM;
    }
    ret = gnutls_x509_privkey_import2(key, d, GNUTLS_X509_FMT_PEM, NULL, 0);
    gnutls_x509_privkey_deinit(key);
    if (ret == GNUTLS_E_DECRYPTION_FAILED) {
        snprintf(err, errlen, "--tls-key '%s' is encrypted; rill needs it unencrypted",
                 path);
        return -EINVAL;
    }
    if (ret < 0) {
        snprintf(err, errlen, "--tls-key '%s' holds no PEM private key", path);
        return -EINVAL;
    }
    return 0;
}

static int check_pair(const char *cert_path, const char *key_path,
                      const gnutls_datum_t *cert, const gnutls_datum_t *key, char *err,
                      size_t errlen)
{
    gnutls_certificate_credentials_t cred;
    int ret;

    if (gnutls_certificate_allocate_credentials(&cred) < 0) {
        snprintf(err, errlen, "cannot check --tls-cert '%s': out of memory", cert_path);
        return -ENOMEM;
    }
    ret = gnutls_certificate_set_x509_key_mem(cred, cert, key, GNUTLS_X509_FMT_PEM);
    gnutls_certificate_free_credentials(cred);
    if (ret == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
        snprintf(err, errlen,
                 "--tls-key '%s' is not the key of the certificate in "
                 "--tls-cert '%s'",
                 key_path, cert_path);
        return -EINVAL;
    }
    if (ret < 0) {
        const char *why = gnutls_strerror(ret);
        size_t len = strlen(why);

        if (len && why[len - 1] == '.') /* GnuTLS's messages end with one; ours do not */
            len--;
        snprintf(err, errlen, "cannot use --tls-cert '%s' with --tls-key '%s': %.*s",
                 cert_path, key_path, (int)len, why);
        return -EINVAL;
    }
    return 0;
}

int tls_check_files(const char *cert_path, const char *key_path, char *err, size_t errlen)
{
    struct pem_file cert = {0}, key = {0};
    int ret;

    ret = read_pem(&cert, "--tls-cert", cert_path, err, errlen);
    if (ret)
        return ret;
    ret = read_pem(&key, "--tls-key", key_path, err, errlen);
    if (ret)
        goto out_free_cert;
    ret = check_cert(cert_path, &cert.d, err, errlen);
    if (!ret)
        ret = check_key(key_path, &key.d, err, errlen);
    if (!ret)
        ret = check_pair(cert_path, key_path, &cert.d, &key.d, err, errlen);
    explicit_bzero(key.text, key.len); /* a private key does not linger in freed memory */
    free(key.text);
out_free_cert:
    free(cert.text);
    return ret;
}
