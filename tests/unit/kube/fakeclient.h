/*
 * fakeclient.h - a kube_client wired to a fakeapi.h server, for the unit
 * tests of the kube_client adapters (informer, leader, recorder).
 * Header-only, like fakeapi.h; kept apart from it because it needs cmocka
 * and the test helpers, which the benchmarks that use fakeapi.h do not.
 */
#ifndef PAYBILL_TEST_FAKECLIENT_H
#define PAYBILL_TEST_FAKECLIENT_H

#include "fakeapi.h"
#include "kube/client.h"
#include "kube/config.h"
#include "testutil.h"

/* A kube_client talking to srv: a kubeconfig in a new temp dir (*dir,
 * for the test to remove), a token, no retries and a generous rate limit
 * so tests see every request as sent. Caller frees both. */
FA_FN kube_client *fa_client(fa_server *srv, char **dir)
{
    char url[128], yaml[1024];
    *dir = tu_tmpdir();
    snprintf(yaml, sizeof yaml,
             "current-context: t\n"
             "contexts:\n- name: t\n  context: {cluster: k, user: u}\n"
             "clusters:\n- name: k\n  cluster:\n    server: %s\n"
             "users:\n- name: u\n  user:\n    token: abc\n",
             fa_url(srv, url, sizeof url));
    char *path = tu_write_file(*dir, "kubeconfig", yaml);
    kube_config_options co = {.kubeconfig = path};
    kube_config *cfg = NULL;
    pb_err e;
    assert_int_equal(kube_config_load(&co, &cfg, &e), 0);
    kube_client_options o = {.qps = 1000, .burst = 1000, .backoff_base_ms = 10, .max_retries = -1};
    kube_client *c = NULL;
    assert_int_equal(kube_client_new(cfg, &o, &c, &e), 0);
    kube_config_free(cfg);
    free(path);
    return c;
}

#endif
