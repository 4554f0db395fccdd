/* tls.h: --tls-cert and --tls-key checked before the server starts, so that files
 * libmicrohttpd could not use are a bad flag (one line on stderr, exit 2) rather than
 * a daemon that fails to start, or a data dir made for nothing.
 *
 * libmicrohttpd loads the pair with GnuTLS (gnutls_certificate_set_x509_key_mem(),
 * PEM); tls_check_files() does the same on credentials of its own, after checking each
 * file alone so that the message can name the one at fault. */
#ifndef SERVER_TLS_H
#define SERVER_TLS_H

#include <stddef.h>

/* The largest certificate or key file read. */
#define TLS_FILE_MAX (1U << 20)

/* Checks that 'cert_path' holds one or more PEM certificates (the server's first,
 * then its chain), 'key_path' an unencrypted PEM private key, and that the key is the
 * first certificate's. On failure, writes a one-line reason naming the flag and file to
 * 'err' (no "rill: " prefix, no newline). Returns 0; -errno when a file cannot be read
 * (-ENOENT, -EACCES, -EFBIG over TLS_FILE_MAX, ...); -EINVAL when its contents will
 * not do. */
int tls_check_files(const char *cert_path, const char *key_path, char *err,
                    size_t errlen);

#endif
