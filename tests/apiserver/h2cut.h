/*
 * h2cut.h - a workaround for libwebsockets 4.1's HTTP/2 request bodies:
 * decrypted reads on the server's HTTP/2 connections are cut so that none
 * goes past the end of a DATA frame (see h2cut.c for the lws bug).
 *
 * It works by defining SSL_read and SSL_pending in this program: lws calls
 * them through the dynamic linker, which finds these first; they hand every
 * other SSL object (clients, HTTP/1.1 connections) straight to OpenSSL.
 * Threading: an SSL object is only ever read by one thread (its owner); the
 * per-connection state lives in the SSL's ex_data.
 */
#ifndef DEVAPI_H2CUT_H
#define DEVAPI_H2CUT_H

/* Resolve OpenSSL's own functions; call before serving (idempotent,
 * thread-safe). It also keeps h2cut.o, and so the interposed functions,
 * linked into every program that runs a dv_server. 0, or -1 when OpenSSL's
 * functions cannot be found. */
int dv_h2cut_init(void);

#endif
