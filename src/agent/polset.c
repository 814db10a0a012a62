/*
 * polset.c - the namespace + subject index over compiled policies (see
 * polset.h).
 *
 * An open-addressing hash table maps (namespace, kind, key) to the ascending
 * list of policies holding that subject; kind is 'u' (username: User and
 * ServiceAccount subjects), 'g' (group) or 'a' (a broken policy whose
 * subjects could not be read: it applies to everyone in its namespace).
 * A lookup probes the username, each group and 'a', and merges the lists in
 * set order. Built once, read without locks, no allocation on lookup.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_int.h"
#include "agent/polset.h"

typedef struct {
    uint64_t hash;
    const char *ns;
    const char *key;
    char kind;
    size_t *pols;
    size_t n, cap;
} entry;

struct pb_polset {
    const pb_pol **pols;
    size_t n;
    entry *tab;
    size_t mask; /* table size - 1 (a power of two) */
};

static uint64_t hash_key(const char *ns, char kind, const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)ns; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    h = (h ^ 0xffu) * 1099511628211ULL;
    h = (h ^ (unsigned char)kind) * 1099511628211ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

static const entry *find(const pb_polset *s, const char *ns, char kind, const char *key)
{
    uint64_t h = hash_key(ns, kind, key);
    for (size_t i = h & s->mask;; i = (i + 1) & s->mask) {
        const entry *en = &s->tab[i];
        if (!en->key)
            return NULL;
        if (en->hash == h && en->kind == kind && strcmp(en->key, key) == 0 && strcmp(en->ns, ns) == 0)
            return en;
    }
}

static int insert(pb_polset *s, const char *ns, char kind, const char *key, size_t pol)
{
    uint64_t h = hash_key(ns, kind, key);
    size_t i = h & s->mask;
    for (;; i = (i + 1) & s->mask) {
        entry *en = &s->tab[i];
        if (!en->key) {
            en->hash = h;
            en->ns = ns;
            en->key = key;
            en->kind = kind;
            break;
        }
        if (en->hash == h && en->kind == kind && strcmp(en->key, key) == 0 && strcmp(en->ns, ns) == 0)
            break;
    }
    entry *en = &s->tab[i];
    if (en->n && en->pols[en->n - 1] == pol)
        return 0; /* the same policy names this subject twice */
    if (en->n == en->cap) {
        size_t cap = en->cap ? en->cap * 2 : 4;
        size_t *np = realloc(en->pols, cap * sizeof *np);
        if (!np)
            return PB_ENOMEM;
        en->pols = np;
        en->cap = cap;
    }
    en->pols[en->n++] = pol;
    return 0;
}

void pb_polset_free(pb_polset *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->tab && i <= s->mask; i++)
        free(s->tab[i].pols);
    free(s->tab);
    free(s->pols);
    free(s);
}

int pb_polset_build(const pb_pol *const *pols, size_t n, pb_polset **out, pb_err *e)
{
    *out = NULL;
    size_t keys = 0;
    for (size_t i = 0; i < n; i++) {
        if (!pols || !pols[i])
            return pb_err_set(e, PB_EINVAL, "policy set: entry %zu is NULL", i);
        keys += pb_subj_count(pols[i]->subjects) + 1;
    }
    pb_polset *s = calloc(1, sizeof *s);
    size_t size = 16;
    while (size < keys * 2)
        size *= 2;
    if (!s || !(s->tab = calloc(size, sizeof *s->tab)) || !(s->pols = calloc(n ? n : 1, sizeof *s->pols))) {
        pb_polset_free(s);
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    }
    s->mask = size - 1;
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        const pb_pol *p = pols[i];
        s->pols[i] = p;
        int rc = 0;
        if (p->all_subjects)
            rc = insert(s, p->ns, 'a', "", i);
        for (size_t k = 0; rc == 0 && k < pb_subj_count(p->subjects); k++) {
            int g = 0;
            const char *key = pb_subj_key_at(p->subjects, k, &g);
            rc = insert(s, p->ns, g ? 'g' : 'u', key, i);
        }
        if (rc) {
            pb_polset_free(s);
            return pb_err_set(e, PB_ENOMEM, "out of memory");
        }
    }
    *out = s;
    return 0;
}

size_t pb_polset_count(const pb_polset *s) { return s ? s->n : 0; }
const pb_pol *pb_polset_at(const pb_polset *s, size_t i) { return s && i < s->n ? s->pols[i] : NULL; }

size_t pb_polset_lookup(const pb_polset *s, const char *ns, const pb_subj_user *u, size_t *idx, size_t cap)
{
    if (!s || pb_subj_user_anonymous(u))
        return 0;
    if (!ns)
        ns = "";
    const entry *lists[PB_SUBJ_MAX_GROUPS + 2];
    size_t pos[PB_SUBJ_MAX_GROUPS + 2], nl = 0;
    const entry *en;
    if ((en = find(s, ns, 'u', u->username)))
        lists[nl++] = en;
    if ((en = find(s, ns, 'a', "")))
        lists[nl++] = en;
    for (size_t g = 0; g < u->n_groups && g < PB_SUBJ_MAX_GROUPS; g++)
        if (u->groups[g] && (en = find(s, ns, 'g', u->groups[g])))
            lists[nl++] = en;
    memset(pos, 0, sizeof pos);
    size_t count = 0, last = SIZE_MAX;
    for (;;) {
        size_t best = SIZE_MAX;
        for (size_t l = 0; l < nl; l++)
            if (pos[l] < lists[l]->n && lists[l]->pols[pos[l]] < best)
                best = lists[l]->pols[pos[l]];
        if (best == SIZE_MAX)
            break;
        for (size_t l = 0; l < nl; l++)
            if (pos[l] < lists[l]->n && lists[l]->pols[pos[l]] == best)
                pos[l]++;
        if (best == last)
            continue;
        if (count < cap)
            idx[count] = best;
        count++;
        last = best;
    }
    return count;
}
