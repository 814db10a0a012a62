/*
 * schema.c - CRD structural schemas for the dev API server: validation of
 * custom objects (with kube-apiserver's cause reasons and messages), pruning
 * of unknown fields, defaulting, and the structural-schema check made when a
 * CRD is created or updated.
 *
 * The model is apiextensions-apiserver 1.32: objects are validated by
 * kube-openapi's SchemaValidator and its errors are converted to field errors
 * (kubeOpenAPIResultToFieldErrors), so messages embed Go formatting ("%q",
 * "%v" of int64/float64); go_quote() and go_float() reproduce it. Pruning and
 * defaulting follow the structural pruning/defaulting algorithms.
 *
 * Deliberate gaps: x-kubernetes-validations (CEL) rules are accepted and
 * ignored. Patterns are Go RE2 in the real server; here the common subset
 * is translated to POSIX ERE (regcomp, bytes not runes). Invalid patterns
 * are rejected when the CRD is checked; valid RE2 we cannot translate
 * (\p{..}, named groups, \x..) is accepted and not enforced.
 * Recursion is bounded by DV_SCHEMA_MAX_DEPTH schema levels.
 *
 * Sections: strings, Go formatting, patterns, formats, validation, list
 * types, pruning, defaulting, structural check.
 *
 * Out of memory aborts: this is a test server.
 */
#include "schema.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* ------------------------------------------------------------------------ */
/* growable strings                                                          */

/* pb_buf (util/buf.h) appended to through these, which abort when out of
 * memory (see above) so that no caller has to check. */

static void sb_check(int rc)
{
    if (rc)
        abort();
}

static void sb_putn(pb_buf *b, const char *s, size_t n) { sb_check(pb_buf_append(b, s, n)); }
static void sb_puts(pb_buf *b, const char *s) { sb_check(pb_buf_puts(b, s)); }
static void sb_putc(pb_buf *b, char c) { sb_check(pb_buf_append(b, &c, 1)); }

static void sb_vprintf(pb_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void sb_vprintf(pb_buf *b, const char *fmt, va_list ap) { sb_check(pb_buf_vprintf(b, fmt, ap)); }

static void sb_printf(pb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(pb_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}

/* The malloc'd contents ("" when empty); b is left empty. */
static char *sb_take(pb_buf *b)
{
    char *s = pb_buf_take(b, NULL);
    if (!s)
        abort();
    return s;
}

/* Field paths in kube-apiserver notation: "spec.items[2].name". */
static size_t path_field(pb_buf *p, const char *name)
{
    size_t old = p->len;
    if (p->len)
        sb_putc(p, '.');
    sb_puts(p, name);
    return old;
}

static size_t path_index(pb_buf *p, size_t i)
{
    size_t old = p->len;
    sb_printf(p, "[%zu]", i);
    return old;
}

/* ------------------------------------------------------------------------ */
/* Go formatting                                                             */

/* Length of the valid UTF-8 sequence at s (2..4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t c;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
        c = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        c = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        c = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* strconv.IsPrint, approximately: C1 controls and a few format characters
 * are not printable; everything else outside ASCII is. */
static int go_printable(uint32_t c)
{
    return !((c >= 0x80 && c <= 0xA0) || c == 0xAD || c == 0x2028 || c == 0x2029 ||
             c == 0xFEFF || (c >= 0x200B && c <= 0x200F));
}

/* Go's %q (strconv.Quote). */
static void go_quote(pb_buf *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    sb_putc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c < 0x80) {
            switch (c) {
            case '"': sb_puts(b, "\\\""); break;
            case '\\': sb_puts(b, "\\\\"); break;
            case '\a': sb_puts(b, "\\a"); break;
            case '\b': sb_puts(b, "\\b"); break;
            case '\f': sb_puts(b, "\\f"); break;
            case '\n': sb_puts(b, "\\n"); break;
            case '\r': sb_puts(b, "\\r"); break;
            case '\t': sb_puts(b, "\\t"); break;
            case '\v': sb_puts(b, "\\v"); break;
            default:
                if (c < 0x20 || c == 0x7F) {
                    char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
                    sb_putn(b, e, 4);
                } else {
                    sb_putc(b, (char)c);
                }
            }
            i++;
            continue;
        }
        uint32_t cp = 0;
        size_t len = utf8_seq(s + i, n - i, &cp);
        if (!len) {
            char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            sb_putn(b, e, 4);
            i++;
        } else {
            if (go_printable(cp))
                sb_putn(b, (const char *)s + i, len);
            else if (cp < 0x10000)
                sb_printf(b, "\\u%04x", (unsigned)cp);
            else
                sb_printf(b, "\\U%08x", (unsigned)cp);
            i += len;
        }
    }
    sb_putc(b, '"');
}

/* Go's %v of a float64 (strconv 'g', shortest): the fewest digits that
 * round-trip, %e notation when the decimal exponent is < -4 or >= 6. */
static void go_float(pb_buf *b, double d)
{
    if (isnan(d)) {
        sb_puts(b, "NaN");
        return;
    }
    if (isinf(d)) {
        sb_puts(b, d > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (d == 0) {
        sb_puts(b, signbit(d) ? "-0" : "0");
        return;
    }
    char e[48];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, d);
        if (strtod(e, NULL) == d)
            break;
    }
    const char *p = e;
    if (*p == '-') {
        sb_putc(b, '-');
        p++;
    }
    char digits[24];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (isdigit((unsigned char)*p) && nd < (int)sizeof digits)
            digits[nd++] = *p;
    int exp = *p == 'e' ? atoi(p + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    if (exp < -4 || exp >= 6) {
        /* %e: d.ddde+XX, at least two exponent digits */
        sb_putc(b, digits[0]);
        if (nd > 1) {
            sb_putc(b, '.');
            sb_putn(b, digits + 1, (size_t)nd - 1);
        }
        sb_printf(b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        return;
    }
    if (exp < 0) {
        sb_puts(b, "0.");
        for (int i = -1; i > exp; i--)
            sb_putc(b, '0');
        sb_putn(b, digits, (size_t)nd);
        return;
    }
    for (int i = 0; i <= exp; i++)
        sb_putc(b, i < nd ? digits[i] : '0');
    if (nd > exp + 1) {
        sb_putc(b, '.');
        sb_putn(b, digits + exp + 1, (size_t)(nd - exp - 1));
    }
}

/* encoding/json's float64: like %v but plain decimal notation from 1e-6 up
 * to 1e21, and a one-digit exponent ("1e-7", "1e+21"). */
static void go_json_float(pb_buf *b, double d)
{
    double a = fabs(d);
    if (a != 0 && (a < 1e-6 || a >= 1e21)) {
        pb_buf t = {0};
        go_float(&t, d);
        /* go_float gives e-07 / e+21: drop a leading zero in the exponent */
        const char *e = strchr(pb_buf_str(&t), 'e');
        if (e && e[2] == '0' && e[3]) {
            sb_putn(b, t.data, (size_t)(e - t.data) + 2);
            sb_puts(b, e + 3);
        } else {
            sb_puts(b, pb_buf_str(&t));
        }
        pb_buf_free(&t);
        return;
    }
    char e[48];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, d);
        if (strtod(e, NULL) == d)
            break;
    }
    int exp = d == 0 ? 0 : atoi(strchr(e, 'e') + 1);
    int decimals = prec - 1 - exp;
    sb_printf(b, "%.*f", decimals > 0 ? decimals : 0, d);
}

/* How field.Error.ErrorBody prints a bad value: strings %q, numbers and
 * bools %v, anything else as JSON. */
static void go_value(pb_buf *b, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        go_quote(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        sb_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        go_float(b, json_real_value(v));
        break;
    case JSON_TRUE:
        sb_puts(b, "true");
        break;
    case JSON_FALSE:
        sb_puts(b, "false");
        break;
    case JSON_NULL:
        sb_puts(b, "null");
        break;
    default: {
        char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        sb_puts(b, s ? s : "null");
        free(s);
    }
    }
}

/* ------------------------------------------------------------------------ */
/* schema accessors                                                          */

static int s_true(const json_t *s, const char *key) { return json_is_true(json_object_get(s, key)); }

static const char *s_str(const json_t *s, const char *key)
{
    return json_string_value(json_object_get(s, key));
}

/* A numeric keyword, if present. */
static int s_num(const json_t *s, const char *key, double *out)
{
    const json_t *v = json_object_get(s, key);
    if (!json_is_number(v))
        return 0;
    *out = json_number_value(v);
    return 1;
}

static int s_int(const json_t *s, const char *key, long long *out)
{
    double d;
    if (!s_num(s, key, &d))
        return 0;
    *out = (long long)d;
    return 1;
}

static const json_t *s_obj(const json_t *s, const char *key)
{
    const json_t *v = json_object_get(s, key);
    return json_is_object(v) ? v : NULL;
}

static int is_meta_field(const char *k)
{
    return !strcmp(k, "apiVersion") || !strcmp(k, "kind") || !strcmp(k, "metadata");
}

/* swag.IsFloat64AJSONInteger */
static int float_is_integer(double f)
{
    if (!isfinite(f) || f < -9007199254740992.0 || f > 9007199254740992.0)
        return 0;
    double g = trunc(f);
    if (f == g)
        return 1;
    double h = fabs(f - g), fa = fabs(f);
    return fa < 1.0 ? h < 1e-9 : h / fa < 1e-9;
}

/* ------------------------------------------------------------------------ */
/* patterns: Go RE2 subset -> POSIX ERE                                      */

/* Escapes RE2 accepts that have no POSIX ERE spelling here: Unicode
 * classes, \Q..\E, hex and octal character codes. */
static int go_only_escape(char c)
{
    return c == 'p' || c == 'P' || c == 'Q' || c == 'E' || c == 'x' || (c >= '0' && c <= '7');
}

/* Translate one escape inside a bracket expression. Returns 0, 1 when it is
 * valid Go but untranslatable, or -1 when Go rejects it too. */
static int bracket_escape(char c, pb_buf *body, int *dash, int *rbr, int *caret)
{
    switch (c) {
    case 'd': sb_puts(body, "0-9"); return 0;
    case 'w': sb_puts(body, "A-Za-z0-9_"); return 0;
    case 's': sb_puts(body, " \t\n\r\f\v"); return 0;
    case 'n': sb_putc(body, '\n'); return 0;
    case 't': sb_putc(body, '\t'); return 0;
    case 'r': sb_putc(body, '\r'); return 0;
    case 'f': sb_putc(body, '\f'); return 0;
    case 'v': sb_putc(body, '\v'); return 0;
    case '-': *dash = 1; return 0;
    case ']': *rbr = 1; return 0;
    case '^': *caret = 1; return 0;
    default:
        if (go_only_escape(c))
            return 1;
        if (isalnum((unsigned char)c))
            return -1;
        sb_putc(body, c);
        return 0;
    }
}

/* Returns a malloc'd ERE, or NULL with a reason in err; *unsupported is
 * set when the pattern is (probably) valid Go but has no ERE translation. */
static char *pattern_to_ere(const char *pat, int *icase, int *unsupported, char *err, size_t n)
{
    pb_buf out = {0};
    const char *p = pat;
    *icase = 0;
    *unsupported = 0;
    if (!strncmp(p, "(?i)", 4)) {
        *icase = 1;
        p += 4;
    }
    while (*p) {
        char c = *p;
        if (c == '\\') {
            char e = p[1];
            if (!e) {
                snprintf(err, n, "error parsing regexp: trailing backslash at end of expression: ``");
                goto fail;
            }
            p += 2;
            switch (e) {
            case 'd': sb_puts(&out, "[0-9]"); break;
            case 'D': sb_puts(&out, "[^0-9]"); break;
            case 'w': sb_puts(&out, "[A-Za-z0-9_]"); break;
            case 'W': sb_puts(&out, "[^A-Za-z0-9_]"); break;
            case 's': sb_puts(&out, "[[:space:]]"); break;
            case 'S': sb_puts(&out, "[^[:space:]]"); break;
            case 'b': sb_puts(&out, "\\b"); break;
            case 'B': sb_puts(&out, "\\B"); break;
            case 'A': sb_putc(&out, '^'); break;
            case 'z': sb_putc(&out, '$'); break;
            case 'n': sb_putc(&out, '\n'); break;
            case 't': sb_putc(&out, '\t'); break;
            case 'r': sb_putc(&out, '\r'); break;
            case 'f': sb_putc(&out, '\f'); break;
            case 'v': sb_putc(&out, '\v'); break;
            default:
                if (go_only_escape(e)) {
                    snprintf(err, n, "escape `\\%c` is not supported by this server", e);
                    *unsupported = 1;
                    goto fail;
                }
                if (isalnum((unsigned char)e)) {
                    snprintf(err, n, "error parsing regexp: invalid escape sequence: `\\%c`", e);
                    goto fail;
                }
                sb_putc(&out, '\\');
                sb_putc(&out, e);
            }
            continue;
        }
        if (c == '[') {
            pb_buf body = {0};
            int neg = 0, dash = 0, rbr = 0, caret = 0;
            p++;
            if (*p == '^') {
                neg = 1;
                p++;
            }
            if (*p == ']') {
                rbr = 1;
                p++;
            }
            while (*p && *p != ']') {
                if (*p == '\\') {
                    int rc = p[1] ? bracket_escape(p[1], &body, &dash, &rbr, &caret) : -1;
                    if (rc != 0) {
                        if (rc > 0)
                            snprintf(err, n, "escape `\\%c` is not supported by this server", p[1]);
                        else
                            snprintf(err, n, "error parsing regexp: invalid escape sequence: `\\%c`",
                                     p[1] ? p[1] : ' ');
                        *unsupported = rc > 0;
                        pb_buf_free(&body);
                        goto fail;
                    }
                    p += 2;
                } else if (*p == '[' && p[1] == ':') {
                    const char *end = strstr(p + 2, ":]");
                    if (!end) {
                        snprintf(err, n, "error parsing regexp: missing closing ]: `%s`", pat);
                        pb_buf_free(&body);
                        goto fail;
                    }
                    sb_putn(&body, p, (size_t)(end + 2 - p));
                    p = end + 2;
                } else if (*p == '^' && body.len == 0) {
                    caret = 1; /* a literal ^ must not come first */
                    p++;
                } else {
                    sb_putc(&body, *p++);
                }
            }
            if (*p != ']') {
                snprintf(err, n, "error parsing regexp: missing closing ]: `%s`", pat);
                pb_buf_free(&body);
                goto fail;
            }
            p++;
            if (!body.len && !rbr && !dash && !caret) {
                snprintf(err, n, "error parsing regexp: missing closing ]: `%s`", pat);
                pb_buf_free(&body);
                goto fail;
            }
            sb_putc(&out, '[');
            if (neg)
                sb_putc(&out, '^');
            if (rbr)
                sb_putc(&out, ']');
            sb_puts(&out, pb_buf_str(&body));
            if (caret)
                sb_putc(&out, '^');
            if (dash)
                sb_putc(&out, '-');
            sb_putc(&out, ']');
            pb_buf_free(&body);
            continue;
        }
        if (c == '(' && p[1] == '?') {
            if (p[2] == ':') {
                sb_putc(&out, '(');
                p += 3;
                continue;
            }
            snprintf(err, n, "group flags and named groups are not supported by this server: `%s`", pat);
            *unsupported = 1;
            goto fail;
        }
        sb_putc(&out, c);
        p++;
        /* lazy quantifiers match the same strings (we only test for a match) */
        if ((c == '*' || c == '+' || c == '?' || c == '}') && *p == '?')
            p++;
    }
    return sb_take(&out);
fail:
    pb_buf_free(&out);
    return NULL;
}

/* Compile a schema pattern. Returns 0; -1 with a Go-like reason when the
 * pattern is invalid; 1 when it is valid Go we cannot run (then the real
 * server would check it and we do not: accepted, never enforced). */
static int pattern_compile(const char *pat, regex_t *re, char *err, size_t n)
{
    int icase, unsupported;
    char *ere = pattern_to_ere(pat, &icase, &unsupported, err, n);
    if (!ere)
        return unsupported ? 1 : -1;
    int rc = regcomp(re, ere, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
    free(ere);
    if (rc != 0) {
        char buf[256];
        regerror(rc, re, buf, sizeof buf);
        snprintf(err, n, "error parsing regexp: %s: `%s`", buf, pat);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* formats (kube-openapi strfmt, the subset CRDs keep)                       */

static int all_match(const char *s, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(set, s[i]) || !s[i])
            return 0;
    return 1;
}

#define HEX "0123456789abcdefABCDEF"
#define DIGITS "0123456789"

static int fmt_date(const char *s, size_t n)
{
    if (n != 10 || s[4] != '-' || s[7] != '-' || !all_match(s, 4, DIGITS) ||
        !all_match(s + 5, 2, DIGITS) || !all_match(s + 8, 2, DIGITS))
        return 0;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

/* strfmt.IsDateTime: date "t" hh:mm:ss(.frac)?(z|[+-]hh:mm), case-insensitive */
static int fmt_datetime(const char *s, size_t n)
{
    const char *t = memchr(s, 'T', n);
    const char *tl = memchr(s, 't', n);
    if (!t || (tl && tl < t))
        t = tl;
    if (n < 4 || !t || !fmt_date(s, (size_t)(t - s)))
        return 0;
    const char *p = t + 1;
    size_t r = n - (size_t)(p - s);
    if (memchr(p, 't', r) || memchr(p, 'T', r))
        return 0;
    if (r < 9 || p[2] != ':' || p[5] != ':' || !all_match(p, 2, DIGITS) ||
        !all_match(p + 3, 2, DIGITS) || !all_match(p + 6, 2, DIGITS))
        return 0;
    if (memcmp(p, "23", 2) > 0 || memcmp(p + 3, "59", 2) > 0 || memcmp(p + 6, "59", 2) > 0)
        return 0;
    size_t i = 8;
    if (i < r && p[i] != 'z' && p[i] != 'Z' && p[i] != '+' && p[i] != '-') {
        i++; /* any single character, then digits (the Go regex uses ".") */
        size_t st = i;
        while (i < r && isdigit((unsigned char)p[i]))
            i++;
        if (i == st)
            return 0;
    }
    if (i < r && (p[i] == 'z' || p[i] == 'Z'))
        return i + 1 == r;
    if (i < r && (p[i] == '+' || p[i] == '-'))
        return r - i == 6 && all_match(p + i + 1, 2, DIGITS) && p[i + 3] == ':' &&
               all_match(p + i + 4, 2, DIGITS);
    return 0;
}

/* base64.StdEncoding: padded; the decoder skips \r and \n */
static int fmt_byte(const char *s, size_t n)
{
    size_t len = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            pad++;
        } else if (pad || !(isalnum((unsigned char)c) || c == '+' || c == '/')) {
            return 0;
        }
        len++;
    }
    return len % 4 == 0 && pad <= 2;
}

static int fmt_uuid(const char *s, size_t n, char version)
{
    /* 8-4-4-4-12 hex digits, each dash optional (strfmt's "-?") */
    static const int groups[] = {8, 4, 4, 4, 12};
    size_t i = 0;
    for (int g = 0; g < 5; g++) {
        if (g && i < n && s[i] == '-')
            i++;
        if (i + (size_t)groups[g] > n || !all_match(s + i, (size_t)groups[g], HEX))
            return 0;
        if (g == 2 && version && s[i] != version)
            return 0;
        if (g == 3 && version && version != '3' && !strchr("89abAB", s[i]))
            return 0;
        i += (size_t)groups[g];
    }
    return i == n;
}

static int fmt_ip(const char *s, size_t n, int family)
{
    char buf[64];
    unsigned char addr[16];
    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    /* strfmt: net.ParseIP succeeds and the text has a '.' (ipv4) or ':'
     * (ipv6), so "::ffff:1.2.3.4" is both */
    int ok = inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1;
    return ok && strchr(buf, family == AF_INET ? '.' : ':');
}

static int fmt_cidr(const char *s, size_t n)
{
    const char *slash = memchr(s, '/', n);
    if (!slash)
        return 0;
    size_t an = (size_t)(slash - s), pn = n - an - 1;
    if (pn == 0 || pn > 3 || !all_match(slash + 1, pn, DIGITS))
        return 0;
    int bits = atoi(slash + 1);
    char buf[64];
    unsigned char addr[16];
    if (an == 0 || an >= sizeof buf)
        return 0;
    memcpy(buf, s, an);
    buf[an] = '\0';
    if (inet_pton(AF_INET, buf, addr) == 1)
        return bits <= 32;
    if (inet_pton(AF_INET6, buf, addr) == 1)
        return bits <= 128;
    return 0;
}

/* Letters for strfmt's hostname regex: ASCII letters and, standing in for
 * \p{L}/\p{S}, any non-ASCII byte. */
static int host_alpha(unsigned char c) { return isalpha(c) || c >= 0x80; }
static int host_alnum(unsigned char c) { return isalnum(c) || c >= 0x80; }

/* strfmt.IsHostname: one label matching [a-z0-9](-?[a-z0-9]{0,62})?, or
 * dot-terminated labels of [a-z0-9-] (no leading/trailing '-') followed by
 * a 2-63 letter top-level label; at most 255 bytes, labels at most 63. */
static int fmt_hostname(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    if (n == 0 || n > 255)
        return 0;
    const unsigned char *dot = memchr(s, '.', n);
    if (!dot) {
        size_t i = 1;
        if (!host_alnum(s[0]))
            return 0;
        if (i < n && s[i] == '-')
            i++;
        size_t st = i;
        while (i < n && host_alnum(s[i]))
            i++;
        return i == n && i - st <= 62;
    }
    const unsigned char *last = s + n;
    while (last > s && last[-1] != '.')
        last--;
    size_t tld = (size_t)(s + n - last);
    if (tld < 2 || tld > 63)
        return 0;
    for (const unsigned char *p = last; p < s + n; p++)
        if (!host_alpha(*p))
            return 0;
    for (const unsigned char *p = s; p < last;) {
        const unsigned char *e = memchr(p, '.', (size_t)(last - p));
        size_t len = (size_t)(e - p);
        if (len == 0 || len > 63 || !host_alnum(p[0]) || !host_alnum(p[len - 1]))
            return 0;
        for (size_t i = 0; i < len; i++)
            if (!host_alnum(p[i]) && p[i] != '-')
                return 0;
        p = e + 1;
    }
    return 1;
}

/* net/mail.ParseAddress, roughly: "local@domain" or "Name <local@domain>". */
static int fmt_email(const char *s, size_t n)
{
    const char *lt = memchr(s, '<', n);
    if (lt && n && s[n - 1] == '>') {
        n = n - (size_t)(lt - s) - 2;
        s = lt + 1;
    }
    const char *at = memchr(s, '@', n);
    if (!at || at == s || at == s + n - 1 || memchr(at + 1, '@', n - (size_t)(at - s) - 1))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (isspace((unsigned char)s[i]) || (unsigned char)s[i] < 0x20 || strchr("<>()[],;:\\\"", s[i]))
            return 0;
    return 1;
}

static int fmt_mac(const char *s, size_t n)
{
    /* net.ParseMAC: 6, 8 or 20 octets as hh:hh:.., hh-hh-.. or hhhh.hhhh.. */
    if (n >= 14 && s[4] == '.') {
        size_t groups = (n + 1) / 5;
        if ((n + 1) % 5 || (groups != 3 && groups != 4 && groups != 10))
            return 0;
        for (size_t g = 0; g < groups; g++)
            if (!all_match(s + 5 * g, 4, HEX) || (g + 1 < groups && s[5 * g + 4] != '.'))
                return 0;
        return 1;
    }
    if (n < 17)
        return 0;
    char sep = s[2];
    if (sep != ':' && sep != '-')
        return 0;
    size_t groups = (n + 1) / 3;
    if ((n + 1) % 3 || (groups != 6 && groups != 8 && groups != 20))
        return 0;
    for (size_t g = 0; g < groups; g++) {
        if (!all_match(s + 3 * g, 2, HEX))
            return 0;
        if (g + 1 < groups && s[3 * g + 2] != sep)
            return 0;
    }
    return 1;
}

/* Go time.ParseDuration ("1h30m", "-1.5s") or strfmt's "<n> <unit>". */
static int fmt_duration(const char *s, size_t n)
{
    static const char *units[] = {"ns", "us", "\xc2\xb5s", "ms", "s", "m", "h", NULL};
    static const char *words[] = {"ns", "us", "ms", "s", "sec", "secs", "second", "seconds", "m",
                                  "min", "mins", "minute", "minutes", "h", "hr", "hrs", "hour",
                                  "hours", "d", "day", "days", "w", "wk", "wks", "week", "weeks",
                                  NULL};
    size_t i = 0;
    /* strfmt form */
    while (i < n && isdigit((unsigned char)s[i]))
        i++;
    if (i > 0 && i < n) {
        size_t j = i;
        while (j < n && s[j] == ' ')
            j++;
        for (int w = 0; words[w]; w++)
            if (n - j == strlen(words[w]) && !memcmp(s + j, words[w], n - j))
                return 1;
    }
    /* Go form */
    i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    if (i == n)
        return 0;
    if (n - i == 1 && s[i] == '0')
        return 1;
    while (i < n) {
        size_t st = i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        int any = i > st;
        if (i < n && s[i] == '.') {
            i++;
            size_t fs = i;
            while (i < n && isdigit((unsigned char)s[i]))
                i++;
            any = any || i > fs;
        }
        if (!any)
            return 0;
        int ok = 0;
        for (int u = 0; units[u] && !ok; u++) {
            size_t ul = strlen(units[u]);
            /* prefer the longest unit: "ms" before "m" */
            if (i + ul <= n && !memcmp(s + i, units[u], ul) &&
                !(ul == 1 && s[i] == 'm' && i + 1 < n && s[i + 1] == 's')) {
                i += ul;
                ok = 1;
            }
        }
        if (!ok)
            return 0;
    }
    return 1;
}

/* ^\d{3}[- ]?\d{2}[- ]?\d{4}$ */
static int fmt_ssn(const char *s, size_t n)
{
    static const size_t parts[] = {3, 2, 4};
    size_t i = 0;
    for (int p = 0; p < 3; p++) {
        if (p && i < n && (s[i] == '-' || s[i] == ' '))
            i++;
        if (i + parts[p] > n || !all_match(s + i, parts[p], DIGITS))
            return 0;
        i += parts[p];
    }
    return i == n;
}

/* rgb(r,g,b) with 0..255 components, spaces allowed around them */
static int fmt_rgbcolor(const char *s, size_t n)
{
    if (n < 10 || strncmp(s, "rgb(", 4) || s[n - 1] != ')')
        return 0;
    size_t i = 4;
    for (int c = 0; c < 3; c++) {
        while (i < n && isspace((unsigned char)s[i]))
            i++;
        size_t st = i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if (i == st || i - st > 3 || (s[st] == '0' && i - st > 1) || atoi(s + st) > 255)
            return 0;
        while (i < n && isspace((unsigned char)s[i]))
            i++;
        if (i >= n || s[i] != (c < 2 ? ',' : ')'))
            return 0;
        i++;
    }
    return i == n;
}

/* url.ParseRequestURI, roughly: an absolute path or scheme ":" rest, no
 * spaces or control characters. */
static int fmt_uri(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7F)
            return 0;
    if (s[0] == '/')
        return 1;
    if (!isalpha((unsigned char)s[0]))
        return 0;
    size_t i = 1;
    while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    return i < n && s[i] == ':' && i + 1 < n;
}

/* 1 valid, 0 invalid, -1 format not checked by the real server. */
static int format_check(const char *format, const char *s, size_t n)
{
    if (!strcmp(format, "date-time") || !strcmp(format, "datetime"))
        return fmt_datetime(s, n);
    if (!strcmp(format, "date"))
        return fmt_date(s, n);
    if (!strcmp(format, "byte"))
        return fmt_byte(s, n);
    if (!strcmp(format, "uuid"))
        return fmt_uuid(s, n, 0);
    if (!strcmp(format, "uuid3"))
        return fmt_uuid(s, n, '3');
    if (!strcmp(format, "uuid4"))
        return fmt_uuid(s, n, '4');
    if (!strcmp(format, "uuid5"))
        return fmt_uuid(s, n, '5');
    if (!strcmp(format, "ipv4"))
        return fmt_ip(s, n, AF_INET);
    if (!strcmp(format, "ipv6"))
        return fmt_ip(s, n, AF_INET6);
    if (!strcmp(format, "cidr"))
        return fmt_cidr(s, n);
    if (!strcmp(format, "hostname"))
        return fmt_hostname(s, n);
    if (!strcmp(format, "email"))
        return fmt_email(s, n);
    if (!strcmp(format, "mac"))
        return fmt_mac(s, n);
    if (!strcmp(format, "duration"))
        return fmt_duration(s, n);
    if (!strcmp(format, "hexcolor")) {
        size_t h = n && s[0] == '#';
        return (n - h == 3 || n - h == 6) && all_match(s + h, n - h, HEX);
    }
    if (!strcmp(format, "ssn"))
        return fmt_ssn(s, n);
    if (!strcmp(format, "rgbcolor"))
        return fmt_rgbcolor(s, n);
    if (!strcmp(format, "uri"))
        return fmt_uri(s, n);
    if (!strcmp(format, "bsonobjectid"))
        return n == 24 && all_match(s, n, HEX);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* validation                                                                */

typedef struct vctx {
    json_t *causes; /* may be NULL: count only */
    int count;
    pb_buf path;
} vctx;

static void cause_at(vctx *c, const char *field, const char *reason, const char *message)
{
    c->count++;
    if (!c->causes)
        return;
    json_t *o = json_object();
    json_object_set_new(o, "reason", json_string(reason));
    json_object_set_new(o, "message", json_string(message));
    json_object_set_new(o, "field", json_string(field));
    json_array_append_new(c->causes, o);
}

/* The field is the validator's name with a leading "." trimmed, as
 * kubeOpenAPIResultToFieldErrors does; messages keep the raw name. */
static void cause(vctx *c, const char *reason, const char *message)
{
    const char *f = pb_buf_str(&c->path);
    cause_at(c, f[0] == '.' ? f + 1 : f, reason, message);
}

static const char *kind_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static int types_has(const char *types, const char *t)
{
    size_t n = strlen(t);
    for (const char *p = types; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !memcmp(p, t, n))
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

static int type_ok(const char *types, const json_t *v)
{
    const char *k = kind_of(v);
    if (types_has(types, k))
        return 1;
    if (json_is_integer(v) && types_has(types, "number"))
        return 1;
    if (json_is_real(v) && float_is_integer(json_real_value(v)) && types_has(types, "integer"))
        return 1;
    return 0;
}

/* FieldValueTypeInvalid: Invalid value: "<got>": <path> in body must be of
 * type <types>: "<got>" */
static void type_error(vctx *c, const char *types, const char *got)
{
    pb_buf m = {0};
    sb_puts(&m, "Invalid value: ");
    go_quote(&m, got, strlen(got));
    sb_printf(&m, ": %s in body must be of type %s: ", pb_buf_str(&c->path), types);
    go_quote(&m, got, strlen(got));
    cause(c, "FieldValueTypeInvalid", pb_buf_str(&m));
    pb_buf_free(&m);
}

/* "Invalid value: <v>: <path> in body <detail>" */
static void invalid(vctx *c, const json_t *bad, const char *detail_fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void invalid(vctx *c, const json_t *bad, const char *detail_fmt, ...)
{
    pb_buf m = {0};
    sb_puts(&m, "Invalid value: ");
    go_value(&m, bad);
    sb_printf(&m, ": %s in body ", pb_buf_str(&c->path));
    va_list ap;
    va_start(ap, detail_fmt);
    sb_vprintf(&m, detail_fmt, ap);
    va_end(ap);
    cause(c, "FieldValueInvalid", pb_buf_str(&m));
    pb_buf_free(&m);
}

static void invalid_int(vctx *c, long long bad, const char *detail_fmt, long long arg)
{
    json_t *v = json_integer(bad);
    char d[256];
    snprintf(d, sizeof d, detail_fmt, arg);
    invalid(c, v, "%s", d);
    json_decref(v);
}

static void too_many(vctx *c, long long actual, long long max)
{
    char m[160];
    snprintf(m, sizeof m, "Too many: %lld: must have at most %lld %s", actual, max,
             max == 1 ? "item" : "items");
    cause(c, "FieldValueTooMany", m);
}

/* A number from the schema printed as kube-openapi does: as an int64 when the
 * value being checked is an integer, else as a float64. */
static void fmt_bound(pb_buf *b, double bound, int as_int)
{
    if (as_int)
        sb_printf(b, "%lld", (long long)bound);
    else
        go_float(b, bound);
}

static void validate_node(vctx *c, const json_t *s, const json_t *v, const json_t *old, int depth);

static int subschema_valid(vctx *c, const json_t *s, const json_t *v, int depth)
{
    vctx sub = {NULL, 0, {0}};
    sb_puts(&sub.path, pb_buf_str(&c->path));
    validate_node(&sub, s, v, NULL, depth);
    pb_buf_free(&sub.path);
    return sub.count == 0;
}

static void validate_junctors(vctx *c, const json_t *s, const json_t *v, int depth)
{
    const json_t *all = json_object_get(s, "allOf"), *any = json_object_get(s, "anyOf"),
                 *one = json_object_get(s, "oneOf"), *not = json_object_get(s, "not");
    size_t i;
    const json_t *sub;
    pb_buf m = {0};
    if (json_is_array(all))
        json_array_foreach(all, i, sub) validate_node(c, sub, v, NULL, depth + 1);
    if (json_is_array(any) && json_array_size(any)) {
        int ok = 0;
        json_array_foreach(any, i, sub) if (!ok && subschema_valid(c, sub, v, depth + 1)) ok = 1;
        if (!ok) {
            sb_puts(&m, "Invalid value: \"\": ");
            go_quote(&m, pb_buf_str(&c->path), c->path.len);
            sb_puts(&m, " must validate at least one schema (anyOf)");
            cause_at(c, "", "FieldValueInvalid", pb_buf_str(&m));
            pb_buf_truncate(&m, 0);
        }
    }
    if (json_is_array(one) && json_array_size(one)) {
        int ok = 0;
        json_array_foreach(one, i, sub) ok += subschema_valid(c, sub, v, depth + 1);
        if (ok != 1) {
            sb_puts(&m, "Invalid value: \"\": ");
            go_quote(&m, pb_buf_str(&c->path), c->path.len);
            sb_puts(&m, " must validate one and only one schema (oneOf). ");
            if (ok == 0)
                sb_puts(&m, "Found none valid");
            else
                sb_printf(&m, "Found %d valid alternatives", ok);
            cause_at(c, "", "FieldValueInvalid", pb_buf_str(&m));
            pb_buf_truncate(&m, 0);
        }
    }
    if (json_is_object(not) && subschema_valid(c, not, v, depth + 1)) {
        sb_puts(&m, "Invalid value: \"\": ");
        go_quote(&m, pb_buf_str(&c->path), c->path.len);
        sb_puts(&m, " must not validate the schema (not)");
        cause_at(c, "", "FieldValueInvalid", pb_buf_str(&m));
    }
    pb_buf_free(&m);
}

static void validate_string(vctx *c, const json_t *s, const json_t *v)
{
    const char *str = json_string_value(v);
    size_t n = json_string_length(v), runes = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)str[i] & 0xC0) != 0x80)
            runes++;
    /* kube-openapi's stringValidator stops at the first failure */
    long long lim;
    int failed = 0;
    if (s_int(s, "maxLength", &lim) && (long long)runes > lim) {
        char m[128];
        snprintf(m, sizeof m, "Too long: may not be more than %lld %s", lim, lim == 1 ? "byte" : "bytes");
        cause(c, "FieldValueTooLong", m);
        failed = 1;
    }
    if (!failed && s_int(s, "minLength", &lim) && (long long)runes < lim) {
        invalid(c, v, "should be at least %lld chars long", lim);
        failed = 1;
    }
    const char *pat = s_str(s, "pattern");
    if (!failed && pat) {
        regex_t re;
        char err[256];
        if (pattern_compile(pat, &re, err, sizeof err) == 0) {
            /* regexec stops at NUL; strings with NUL only match on their prefix */
            if (regexec(&re, str, 0, NULL, 0) != 0)
                invalid(c, v, "should match '%s'", pat);
            regfree(&re);
        }
    }
    const char *format = s_str(s, "format");
    if (format && format_check(format, str, n) == 0) {
        pb_buf m = {0};
        sb_puts(&m, "Invalid value: ");
        go_quote(&m, str, n);
        sb_printf(&m, ": %s in body must be of type %s: ", pb_buf_str(&c->path), format);
        go_quote(&m, str, n);
        cause(c, "FieldValueTypeInvalid", pb_buf_str(&m));
        pb_buf_free(&m);
    }
}

static void validate_number(vctx *c, const json_t *s, const json_t *v)
{
    int as_int = json_is_integer(v);
    double d = json_number_value(v), bound;
    long long iv = as_int ? json_integer_value(v) : 0;
    pb_buf m = {0};
    if (s_num(s, "multipleOf", &bound)) {
        /* MultipleOfNativeType: integers use int64(factor), so a factor
         * below 1 is "not positive" for them (a real kube-openapi quirk) */
        long long factor = as_int ? (long long)bound : 0;
        int bad;
        if (as_int ? factor <= 0 : bound <= 0) {
            pb_buf f = {0};
            fmt_bound(&f, bound, as_int);
            json_t *fv = as_int ? json_integer(factor) : json_real(bound);
            pb_buf mm = {0};
            sb_puts(&mm, "Invalid value: ");
            go_value(&mm, fv);
            sb_printf(&mm, ": factor MultipleOf declared for %s must be positive: %s",
                      pb_buf_str(&c->path), pb_buf_str(&f));
            cause(c, "FieldValueInvalid", pb_buf_str(&mm));
            json_decref(fv);
            pb_buf_free(&f);
            pb_buf_free(&mm);
            bad = 0;
        } else if (as_int) {
            bad = iv % factor != 0;
        } else {
            double mult = bound < 1 ? 1 / bound * d : d / bound;
            bad = !float_is_integer(mult);
        }
        if (bad) {
            sb_puts(&m, "should be a multiple of ");
            fmt_bound(&m, bound, as_int);
            invalid(c, v, "%s", pb_buf_str(&m));
            pb_buf_truncate(&m, 0);
        }
    }
    if (s_num(s, "minimum", &bound)) {
        int excl = s_true(s, "exclusiveMinimum"), bad;
        if (as_int)
            bad = excl ? iv <= (long long)bound : iv < (long long)bound;
        else
            bad = excl ? d <= bound : d < bound;
        if (bad) {
            sb_puts(&m, excl ? "should be greater than " : "should be greater than or equal to ");
            fmt_bound(&m, bound, as_int);
            invalid(c, v, "%s", pb_buf_str(&m));
            pb_buf_truncate(&m, 0);
        }
    }
    if (s_num(s, "maximum", &bound)) {
        int excl = s_true(s, "exclusiveMaximum"), bad;
        if (as_int)
            bad = excl ? iv >= (long long)bound : iv > (long long)bound;
        else
            bad = excl ? d >= bound : d > bound;
        if (bad) {
            sb_puts(&m, excl ? "should be less than " : "should be less than or equal to ");
            fmt_bound(&m, bound, as_int);
            invalid(c, v, "%s", pb_buf_str(&m));
        }
    }
    pb_buf_free(&m);
}

/* basicCommonValidator: the value is converted to each enum value's Go type
 * before comparing. So 1 == 1.0, a real is truncated when compared with an
 * integer (1.5 matches 1), an integer becomes a one-rune string when
 * compared with a string (65 matches "A"), and null never matches. */
static int enum_match(const json_t *e, const json_t *v)
{
    if (json_is_null(e) || json_is_null(v))
        return 0;
    if (json_is_integer(e)) {
        if (json_is_integer(v))
            return json_integer_value(v) == json_integer_value(e);
        if (json_is_real(v)) {
            double d = trunc(json_real_value(v));
            return d >= -9.2e18 && d <= 9.2e18 && (json_int_t)d == json_integer_value(e);
        }
        return 0;
    }
    if (json_is_real(e))
        return json_is_number(v) && json_number_value(v) == json_real_value(e);
    if (json_is_string(e) && json_is_integer(v)) {
        json_int_t r = json_integer_value(v);
        char u[5] = {0};
        if (r < 0 || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
            r = 0xFFFD;
        if (r < 0x80) {
            u[0] = (char)r;
        } else if (r < 0x800) {
            u[0] = (char)(0xC0 | (r >> 6));
            u[1] = (char)(0x80 | (r & 0x3F));
        } else if (r < 0x10000) {
            u[0] = (char)(0xE0 | (r >> 12));
            u[1] = (char)(0x80 | ((r >> 6) & 0x3F));
            u[2] = (char)(0x80 | (r & 0x3F));
        } else {
            u[0] = (char)(0xF0 | (r >> 18));
            u[1] = (char)(0x80 | ((r >> 12) & 0x3F));
            u[2] = (char)(0x80 | ((r >> 6) & 0x3F));
            u[3] = (char)(0x80 | (r & 0x3F));
        }
        return json_string_length(e) == strlen(u) && !memcmp(json_string_value(e), u, strlen(u));
    }
    return json_typeof(e) == json_typeof(v) && json_equal((json_t *)e, (json_t *)v);
}

static void validate_enum(vctx *c, const json_t *s, const json_t *v)
{
    const json_t *en = json_object_get(s, "enum"), *e;
    size_t i;
    if (!json_is_array(en) || json_array_size(en) == 0)
        return;
    json_array_foreach(en, i, e) if (enum_match(e, v)) return;
    pb_buf m = {0};
    sb_puts(&m, "Unsupported value: ");
    go_value(&m, v);
    sb_puts(&m, ": supported values: ");
    json_array_foreach(en, i, e)
    {
        if (i)
            sb_puts(&m, ", ");
        if (json_is_string(e)) {
            go_quote(&m, json_string_value(e), json_string_length(e));
        } else if (json_is_real(e)) {
            pb_buf f = {0};
            go_json_float(&f, json_real_value(e));
            go_quote(&m, pb_buf_str(&f), f.len);
            pb_buf_free(&f);
        } else {
            char *js = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
            go_quote(&m, js ? js : "null", js ? strlen(js) : 4);
            free(js);
        }
    }
    cause(c, "FieldValueNotSupported", pb_buf_str(&m));
    pb_buf_free(&m);
}

/* utilvalidation.IsDNS1035Label on the lower-cased kind: the messages,
 * joined with ",", or "" when valid. */
static void dns1035_errors(const char *s, pb_buf *out)
{
    size_t n = strlen(s);
    int ok = n > 0 && isalpha((unsigned char)s[0]) && islower((unsigned char)s[0]) &&
             (isdigit((unsigned char)s[n - 1]) || islower((unsigned char)s[n - 1]));
    for (size_t i = 0; ok && i < n; i++)
        ok = isdigit((unsigned char)s[i]) || islower((unsigned char)s[i]) || s[i] == '-';
    if (n > 63)
        sb_puts(out, "must be no more than 63 characters");
    if (!ok) {
        if (n > 63)
            sb_putc(out, ',');
        sb_puts(out, "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
                     "with an alphabetic character, and end with an alphanumeric character (e.g. "
                     "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')");
    }
}

static void embedded_invalid(vctx *c, const json_t *bad, const char *detail)
{
    pb_buf m = {0};
    sb_puts(&m, "Invalid value: ");
    go_value(&m, bad);
    sb_puts(&m, ": ");
    sb_puts(&m, detail);
    cause(c, "FieldValueInvalid", pb_buf_str(&m));
    pb_buf_free(&m);
}

/* schemaobjectmeta.validateEmbeddedResource: apiVersion and kind are
 * required strings, kind a DNS-1035 label up to case. */
static void validate_embedded(vctx *c, const json_t *v)
{
    const json_t *av = json_object_get(v, "apiVersion"), *kv = json_object_get(v, "kind");
    size_t old = path_field(&c->path, "apiVersion");
    if (!av || (json_is_string(av) && !json_string_length(av))) {
        cause(c, "FieldValueRequired", "Required value");
    } else if (!json_is_string(av)) {
        embedded_invalid(c, av, "must be a string");
    } else {
        const char *s = json_string_value(av), *slash = strchr(s, '/');
        if (slash && strchr(slash + 1, '/')) {
            pb_buf d = {0};
            sb_printf(&d, "unexpected GroupVersion string: %s", s);
            embedded_invalid(c, av, pb_buf_str(&d));
            pb_buf_free(&d);
        }
    }
    pb_buf_truncate(&c->path, old);
    old = path_field(&c->path, "kind");
    if (!kv || (json_is_string(kv) && !json_string_length(kv))) {
        cause(c, "FieldValueRequired", "Required value");
    } else if (!json_is_string(kv)) {
        embedded_invalid(c, kv, "must be a string");
    } else {
        char *lower = strdup(json_string_value(kv));
        if (!lower)
            abort();
        for (char *p = lower; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        pb_buf errs = {0}, d = {0};
        dns1035_errors(lower, &errs);
        if (errs.len) {
            sb_printf(&d, "may have mixed case, but should otherwise match: %s", pb_buf_str(&errs));
            embedded_invalid(c, kv, pb_buf_str(&d));
        }
        pb_buf_free(&errs);
        pb_buf_free(&d);
        free(lower);
    }
    pb_buf_truncate(&c->path, old);
}

/* schemaobjectmeta.Validate (not at the resource root): a pass of its own,
 * after the OpenAPI checks. Map values are named with Key(): m[k]. */
static void validate_embedded_pass(vctx *c, const json_t *s, const json_t *v, int depth)
{
    if (!json_is_object(s) || depth > DV_SCHEMA_MAX_DEPTH)
        return;
    if (json_is_object(v)) {
        if (depth > 0 && s_true(s, "x-kubernetes-embedded-resource"))
            validate_embedded(c, v);
        const json_t *props = s_obj(s, "properties"), *aps = s_obj(s, "additionalProperties"), *val;
        const char *k;
        json_object_foreach((json_t *)v, k, val)
        {
            const json_t *ps = props ? json_object_get(props, k) : NULL;
            size_t old = c->path.len;
            if (ps)
                path_field(&c->path, k);
            else if (aps)
                sb_printf(&c->path, "[%s]", k);
            else
                continue;
            validate_embedded_pass(c, ps ? ps : aps, val, depth + 1);
            pb_buf_truncate(&c->path, old);
        }
    } else if (json_is_array(v)) {
        const json_t *items = s_obj(s, "items"), *e;
        size_t i;
        json_array_foreach(v, i, e)
        {
            size_t old = path_index(&c->path, i);
            validate_embedded_pass(c, items, e, depth + 1);
            pb_buf_truncate(&c->path, old);
        }
    }
}

static void validate_object(vctx *c, const json_t *s, const json_t *v, const json_t *ov, int depth)
{
    /* kube-openapi's objectValidator returns at once on min/maxProperties */
    long long lim, n = (long long)json_object_size(v);
    if (s_int(s, "minProperties", &lim) && n < lim) {
        invalid_int(c, n, "should have at least %lld properties", lim);
        return;
    }
    if (s_int(s, "maxProperties", &lim) && n > lim) {
        too_many(c, n, lim);
        return;
    }

    const json_t *props = s_obj(s, "properties");
    const json_t *ap = json_object_get(s, "additionalProperties");
    const char *k;
    const json_t *val;
    size_t old;
    if (json_is_false(ap)) {
        json_object_foreach((json_t *)v, k, val)
        {
            if (props && json_object_get(props, k))
                continue;
            pb_buf m = {0};
            json_t *key = json_string(k);
            sb_puts(&m, "Invalid value: ");
            go_value(&m, key);
            sb_printf(&m, ": %s.%s in body is a forbidden property", pb_buf_str(&c->path), k);
            cause(c, "FieldValueInvalid", pb_buf_str(&m));
            json_decref(key);
            pb_buf_free(&m);
        }
    } else if (json_is_object(ap)) {
        json_object_foreach((json_t *)v, k, val)
        {
            if (props && json_object_get(props, k))
                continue;
            /* o.Path+"."+key: at the root the name keeps its leading dot */
            old = c->path.len;
            sb_putc(&c->path, '.');
            sb_puts(&c->path, k);
            validate_node(c, ap, val, json_object_get(ov, k), depth + 1);
            pb_buf_truncate(&c->path, old);
        }
    }
    if (props) {
        const json_t *ps;
        json_object_foreach((json_t *)props, k, ps)
        {
            val = json_object_get(v, k);
            if (!val)
                continue;
            old = path_field(&c->path, k);
            validate_node(c, ps, val, json_object_get(ov, k), depth + 1);
            pb_buf_truncate(&c->path, old);
        }
    }
    const json_t *req = json_object_get(s, "required"), *r;
    size_t i;
    if (json_is_array(req))
        json_array_foreach(req, i, r)
        {
            if (!json_is_string(r) || json_object_get(v, json_string_value(r)))
                continue;
            old = path_field(&c->path, json_string_value(r));
            cause(c, "FieldValueRequired", "Required value");
            pb_buf_truncate(&c->path, old);
        }
}

/* Ratcheting correlates list items only in list-type map lists, by key. */
static const json_t *correlated_item(const json_t *s, const json_t *e, const json_t *ov)
{
    const char *lt = s_str(s, "x-kubernetes-list-type");
    const json_t *keys = json_object_get(s, "x-kubernetes-list-map-keys"), *o, *k;
    size_t i, j;
    if (!json_is_array(ov) || !lt || strcmp(lt, "map") || !json_array_size(keys) || !json_is_object(e))
        return NULL;
    json_array_foreach(ov, i, o)
    {
        int same = json_is_object(o);
        json_array_foreach(keys, j, k)
        {
            const json_t *a = json_object_get(e, json_string_value(k)), *b = json_object_get(o, json_string_value(k));
            if (!same || !((!a && !b) || (a && b && json_equal((json_t *)a, (json_t *)b))))
                same = 0;
        }
        if (same)
            return o;
    }
    return NULL;
}

static void validate_array(vctx *c, const json_t *s, const json_t *v, const json_t *ov, int depth)
{
    const json_t *items = s_obj(s, "items"), *e;
    size_t i;
    if (items)
        json_array_foreach(v, i, e)
        {
            size_t old = path_index(&c->path, i);
            validate_node(c, items, e, correlated_item(s, e, ov), depth + 1);
            pb_buf_truncate(&c->path, old);
        }
    long long lim, n = (long long)json_array_size(v);
    if (s_int(s, "minItems", &lim) && n < lim)
        invalid_int(c, n, "should have at least %lld items", lim);
    if (s_int(s, "maxItems", &lim) && n > lim)
        too_many(c, n, lim);
    if (s_true(s, "uniqueItems")) {
        for (size_t a = 0; a < (size_t)n; a++)
            for (size_t b = a + 1; b < (size_t)n; b++)
                if (json_equal(json_array_get(v, a), json_array_get(v, b))) {
                    json_t *empty = json_string("");
                    invalid(c, empty, "shouldn't contain duplicates");
                    json_decref(empty);
                    a = b = (size_t)n;
                }
    }
}

/* old: the correlated value in the object being updated, or NULL. An
 * unchanged value is not validated at all (CRDValidationRatcheting, on by
 * default in 1.32), so objects that predate a stricter schema stay
 * writable as long as their invalid parts are left alone. */
static void validate_node(vctx *c, const json_t *s, const json_t *v, const json_t *old, int depth)
{
    if (!json_is_object(s) || !v)
        return;
    if (old && json_equal((json_t *)old, (json_t *)v))
        return;
    if (depth > DV_SCHEMA_MAX_DEPTH) {
        char m[128];
        snprintf(m, sizeof m, "Internal error: schema nesting exceeds %d levels", DV_SCHEMA_MAX_DEPTH);
        cause(c, "InternalError", m);
        return;
    }
    char types[32] = "";
    if (s_true(s, "x-kubernetes-int-or-string"))
        snprintf(types, sizeof types, "integer,string");
    else if (s_str(s, "type"))
        snprintf(types, sizeof types, "%s", s_str(s, "type"));

    if (json_is_null(v)) {
        if (types[0] && !s_true(s, "nullable"))
            type_error(c, types, "null");
        validate_enum(c, s, v);
        return;
    }
    if (types[0] && !type_ok(types, v))
        type_error(c, types, kind_of(v));
    validate_junctors(c, s, v, depth);
    if (json_is_string(v))
        validate_string(c, s, v);
    if (json_is_number(v))
        validate_number(c, s, v);
    if (json_is_array(v))
        validate_array(c, s, v, old, depth);
    validate_enum(c, s, v);
    if (json_is_object(v))
        validate_object(c, s, v, old, depth);
}

/* x-kubernetes-list-type set/map uniqueness (structural listtype
 * validation, run after the OpenAPI checks): "Duplicate value: ..." on the
 * repeated element. Map keys are compared as JSON; absent keys count as a
 * value of their own. */
static void duplicate(vctx *c, size_t i, const json_t *bad)
{
    size_t old = path_index(&c->path, i);
    pb_buf m = {0};
    sb_puts(&m, "Duplicate value: ");
    go_value(&m, bad);
    cause(c, "FieldValueDuplicate", pb_buf_str(&m));
    pb_buf_free(&m);
    pb_buf_truncate(&c->path, old);
}

static void validate_list_types(vctx *c, const json_t *s, const json_t *v, int depth)
{
    if (!json_is_object(s) || depth > DV_SCHEMA_MAX_DEPTH)
        return;
    if (json_is_object(v)) {
        /* map values are named with Key(): spec.labels[k] */
        const json_t *props = s_obj(s, "properties"), *aps = s_obj(s, "additionalProperties"), *val;
        const char *k;
        json_object_foreach((json_t *)v, k, val)
        {
            const json_t *ps = props ? json_object_get(props, k) : aps;
            if (!ps)
                continue;
            size_t old = c->path.len;
            if (props)
                path_field(&c->path, k);
            else
                sb_printf(&c->path, "[%s]", k);
            validate_list_types(c, ps, val, depth + 1);
            pb_buf_truncate(&c->path, old);
        }
        return;
    }
    if (!json_is_array(v))
        return;
    const char *lt = s_str(s, "x-kubernetes-list-type");
    const json_t *keys = json_object_get(s, "x-kubernetes-list-map-keys");
    size_t n = json_array_size(v);
    /* validateListSet reports the second occurrence of a value only */
    if (lt && !strcmp(lt, "set")) {
        for (size_t i = 1; i < n; i++) {
            size_t seen = 0;
            for (size_t j = 0; j < i; j++)
                seen += json_equal(json_array_get(v, i), json_array_get(v, j));
            if (seen == 1)
                duplicate(c, i, json_array_get(v, i));
        }
    } else if (lt && !strcmp(lt, "map") && json_array_size(keys)) {
        int objects = 1;
        for (size_t i = 0; i < n && objects; i++) {
            const json_t *e = json_array_get(v, i);
            if (!json_is_object(e) && !json_is_null(e)) {
                size_t old = path_index(&c->path, i);
                pb_buf m = {0};
                sb_puts(&m, "Invalid value: ");
                go_value(&m, e);
                sb_puts(&m, ": must be an object for an array of list-type map");
                cause(c, "FieldValueInvalid", pb_buf_str(&m));
                pb_buf_free(&m);
                pb_buf_truncate(&c->path, old);
                objects = 0;
            }
        }
        json_t **tuples = objects && n > 1 ? calloc(n, sizeof *tuples) : NULL;
        for (size_t i = 0; tuples && i < n; i++) {
            const json_t *e = json_array_get(v, i), *key;
            size_t ki;
            tuples[i] = json_object();
            json_array_foreach(keys, ki, key)
            {
                const char *kn = json_string_value(key);
                const json_t *kv = kn ? json_object_get(e, kn) : NULL;
                if (kn && kv)
                    json_object_set(tuples[i], kn, (json_t *)kv);
            }
            size_t seen = 0;
            for (size_t j = 0; j < i; j++)
                seen += json_equal(tuples[i], tuples[j]);
            if (seen == 1)
                duplicate(c, i, tuples[i]);
        }
        for (size_t i = 0; tuples && i < n; i++)
            json_decref(tuples[i]);
        free(tuples);
    }
    const json_t *items = s_obj(s, "items");
    for (size_t i = 0; items && i < n; i++) {
        size_t old = path_index(&c->path, i);
        validate_list_types(c, items, json_array_get(v, i), depth + 1);
        pb_buf_truncate(&c->path, old);
    }
}

int dv_schema_validate(const json_t *schema, const json_t *obj, json_t *causes)
{
    return dv_schema_validate_update(schema, obj, NULL, causes);
}

int dv_schema_validate_update(const json_t *schema, const json_t *obj, const json_t *old, json_t *causes)
{
    vctx c = {causes, 0, {0}};
    /* the order of the real strategy: OpenAPI, embedded resources, list types */
    validate_node(&c, schema, obj, old, 0);
    pb_buf_truncate(&c.path, 0);
    if (obj)
        validate_embedded_pass(&c, schema, obj, 0);
    pb_buf_truncate(&c.path, 0);
    if (obj)
        validate_list_types(&c, schema, obj, 0);
    pb_buf_free(&c.path);
    return c.count;
}

/* ------------------------------------------------------------------------ */
/* pruning                                                                   */

static int is_object_meta_field(const char *k)
{
    static const char *const f[] = {"name", "generateName", "namespace", "selfLink", "uid",
                                    "resourceVersion", "generation", "creationTimestamp",
                                    "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
                                    "annotations", "ownerReferences", "finalizers",
                                    "managedFields", NULL};
    for (int i = 0; f[i]; i++)
        if (!strcmp(f[i], k))
            return 1;
    return 0;
}


/* additionalProperties as pruning sees it: present (true or a schema)? */
static int has_additional(const json_t *s, const json_t **schema)
{
    const json_t *ap = s ? json_object_get(s, "additionalProperties") : NULL;
    *schema = json_is_object(ap) ? ap : NULL;
    return json_is_object(ap) || json_is_true(ap);
}

typedef struct pctx {
    pb_buf path;      /* where we are: spec.items[2] */
    json_t *pruned; /* array of pruned paths, or NULL */
    int count;
} pctx;

static void pruned_key(pctx *p, const char *k)
{
    p->count++;
    if (!p->pruned)
        return;
    size_t old = path_field(&p->path, k);
    json_array_append_new(p->pruned, json_string(pb_buf_str(&p->path)));
    pb_buf_truncate(&p->path, old);
}

static void prune_node(pctx *p, const json_t *s, json_t *v, int root, int depth);

/* Embedded objects' metadata is coerced through ObjectMeta (objectmeta
 * Coerce): unknown keys go, and are reported like pruned fields. */
static void prune_embedded_meta(pctx *p, json_t *meta)
{
    const char *k;
    json_t *v;
    void *tmp;
    if (!json_is_object(meta))
        return;
    size_t old = path_field(&p->path, "metadata");
    json_object_foreach_safe(meta, tmp, k, v)
    {
        if (is_object_meta_field(k))
            continue;
        pruned_key(p, k);
        json_object_del(meta, k);
    }
    pb_buf_truncate(&p->path, old);
}

/* Walk one object level: known properties and map values are pruned by
 * their schema; unknown keys are deleted unless `keep_unknown`. */
static void prune_object(pctx *p, const json_t *s, json_t *v, int root, int depth, int keep_unknown)
{
    const char *k;
    json_t *val;
    void *tmp;
    int emb = root || s_true(s, "x-kubernetes-embedded-resource");
    const json_t *props = s ? s_obj(s, "properties") : NULL, *aps;
    int ap = has_additional(s, &aps);
    json_object_foreach_safe(v, tmp, k, val)
    {
        if (emb && is_meta_field(k)) {
            if (!root && !strcmp(k, "metadata"))
                prune_embedded_meta(p, val);
            continue;
        }
        const json_t *ps = props ? json_object_get(props, k) : NULL;
        if (ps || ap) {
            size_t old = path_field(&p->path, k);
            prune_node(p, ps ? ps : aps, val, 0, depth + 1);
            pb_buf_truncate(&p->path, old);
        } else if (!keep_unknown) {
            pruned_key(p, k);
            json_object_del(v, k);
        }
    }
}

/* x-kubernetes-preserve-unknown-fields: unknown keys stay, known ones are
 * still pruned by their own schema (skipPrune). */
static void skip_prune(pctx *p, const json_t *s, json_t *v, int root, int depth)
{
    if (!s || depth > DV_SCHEMA_MAX_DEPTH)
        return;
    if (json_is_object(v)) {
        prune_object(p, s, v, root, depth, 1);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            size_t old = path_index(&p->path, i);
            skip_prune(p, s_obj(s, "items"), e, 0, depth + 1);
            pb_buf_truncate(&p->path, old);
        }
    }
}

static void prune_node(pctx *p, const json_t *s, json_t *v, int root, int depth)
{
    if (depth > DV_SCHEMA_MAX_DEPTH)
        return;
    if (s && s_true(s, "x-kubernetes-preserve-unknown-fields")) {
        skip_prune(p, s, v, root, depth);
        return;
    }
    if (json_is_object(v)) {
        prune_object(p, s, v, root, depth, 0);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        const json_t *items = s ? s_obj(s, "items") : NULL;
        json_array_foreach(v, i, e)
        {
            size_t old = path_index(&p->path, i);
            prune_node(p, items, e, 0, depth + 1);
            pb_buf_truncate(&p->path, old);
        }
    }
}

static int cmp_json_strings(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

int dv_schema_prune_report(const json_t *schema, json_t *obj, json_t *pruned)
{
    pctx p = {{0}, json_is_array(pruned) ? pruned : NULL, 0};
    size_t start = p.pruned ? json_array_size(p.pruned) : 0;
    prune_node(&p, json_is_object(schema) ? schema : NULL, obj, 1, 0);
    pb_buf_free(&p.path);
    if (!p.pruned)
        return p.count;
    /* sorted, so that messages do not depend on object key order */
    size_t n = json_array_size(p.pruned) - start;
    json_t **items = malloc((n ? n : 1) * sizeof *items);
    if (!items)
        abort();
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(p.pruned, start + i));
    qsort(items, n, sizeof *items, cmp_json_strings);
    for (size_t i = 0; i < n; i++)
        json_array_set_new(p.pruned, start + i, items[i]);
    free(items);
    return p.count;
}

void dv_schema_prune(const json_t *schema, json_t *obj)
{
    dv_schema_prune_report(schema, obj, NULL);
}

/* ------------------------------------------------------------------------ */
/* defaulting                                                                */

static int non_nullable_null(const json_t *v, const json_t *s)
{
    return json_is_null(v) && s && !s_true(s, "nullable");
}

/* PruneNonNullableNullsWithoutDefaults: a null where the schema says the
 * field is not nullable and has no default is dropped before defaulting. */
static void prune_nulls(const json_t *s, json_t *v, int depth)
{
    if (depth > DV_SCHEMA_MAX_DEPTH)
        return;
    if (json_is_object(v)) {
        const char *k;
        json_t *val;
        void *tmp;
        const json_t *props = s ? s_obj(s, "properties") : NULL, *aps = NULL;
        if (s)
            has_additional(s, &aps);
        json_object_foreach_safe(v, tmp, k, val)
        {
            const json_t *ps = props ? json_object_get(props, k) : NULL;
            if (!ps)
                ps = aps;
            if (non_nullable_null(val, ps) && !json_object_get(ps, "default"))
                json_object_del(v, k);
            else
                prune_nulls(ps, val, depth + 1);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        const json_t *items = s ? s_obj(s, "items") : NULL;
        json_array_foreach(v, i, e) prune_nulls(items, e, depth + 1);
    }
}

static void default_node(const json_t *s, json_t *v, int depth)
{
    if (!s || depth > DV_SCHEMA_MAX_DEPTH)
        return;
    if (json_is_object(v)) {
        const json_t *props = s_obj(s, "properties"), *ps, *aps;
        const char *k;
        json_t *val;
        has_additional(s, &aps);
        if (props)
            json_object_foreach((json_t *)props, k, ps)
            {
                const json_t *d = json_object_get(ps, "default");
                if (!d)
                    continue;
                val = json_object_get(v, k);
                if (!val || non_nullable_null(val, ps))
                    json_object_set_new(v, k, json_deep_copy(d));
            }
        json_object_foreach(v, k, val)
        {
            ps = props ? json_object_get(props, k) : NULL;
            if (ps) {
                default_node(ps, val, depth + 1);
            } else if (aps) {
                const json_t *d = json_object_get(aps, "default");
                if (d && non_nullable_null(val, aps)) {
                    val = json_deep_copy(d);
                    json_object_set_new(v, k, val);
                }
                default_node(aps, val, depth + 1);
            }
        }
    } else if (json_is_array(v)) {
        const json_t *items = s_obj(s, "items");
        const json_t *d = items ? json_object_get(items, "default") : NULL;
        for (size_t i = 0; items && i < json_array_size(v); i++) {
            json_t *e = json_array_get(v, i);
            if (d && non_nullable_null(e, items)) {
                json_array_set_new(v, i, json_deep_copy(d));
                e = json_array_get(v, i);
            }
            default_node(items, e, depth + 1);
        }
    }
}

void dv_schema_default(const json_t *schema, json_t *obj)
{
    if (!json_is_object(schema))
        return;
    prune_nulls(schema, obj, 0);
    default_node(schema, obj, 0);
}

/* ------------------------------------------------------------------------ */
/* structural check                                                          */
/*
 * Three passes, as kube-apiserver runs them when a CRD is written:
 *  A. OpenAPI well-formedness (apiextensions validation.go): $ref,
 *     uniqueItems, additionalProperties false / next to properties, bad
 *     types... reported in walk order; if any, B and C are skipped.
 *  B. structural invariants (apiextensions schema/validation.go) and
 *     completeness of value validations, sorted by "field: message".
 *  C. defaults validated against their own schema (ValidateDefaults).
 */

enum { LVL_ROOT, LVL_ITEM, LVL_FIELD };

typedef struct sctx {
    json_t *causes;
    int count;
    pb_buf path; /* openAPIV3Schema.properties[spec]... */
} sctx;

static void scause(sctx *c, const char *child, const char *reason, const char *body)
{
    pb_buf f = {0};
    sb_puts(&f, pb_buf_str(&c->path));
    if (child) {
        sb_putc(&f, '.');
        sb_puts(&f, child);
    }
    c->count++;
    if (c->causes) {
        json_t *o = json_object();
        json_object_set_new(o, "reason", json_string(reason));
        json_object_set_new(o, "message", json_string(body));
        json_object_set_new(o, "field", json_string(pb_buf_str(&f)));
        json_array_append_new(c->causes, o);
    }
    pb_buf_free(&f);
}

static void scause_value(sctx *c, const char *child, const char *reason, const char *head,
                         const json_t *bad, const char *detail)
{
    pb_buf m = {0};
    sb_puts(&m, head);
    sb_puts(&m, ": ");
    go_value(&m, bad);
    sb_puts(&m, ": ");
    sb_puts(&m, detail);
    scause(c, child, reason, pb_buf_str(&m));
    pb_buf_free(&m);
}

/* Run fn on child schema `s` with `suffix` appended to the path. */
#define WITH_PATH(c, suffix, stmt)                                                                 \
    do {                                                                                           \
        size_t old_ = (c)->path.len;                                                               \
        sb_puts(&(c)->path, (suffix));                                                             \
        stmt;                                                                                      \
        pb_buf_truncate(&(c)->path, old_);                                                             \
    } while (0)

static int valid_type(const char *t)
{
    static const char *const types[] = {"array", "boolean", "integer", "number", "object", "string", NULL};
    for (int i = 0; types[i]; i++)
        if (!strcmp(types[i], t))
            return 1;
    return 0;
}

static const char *const JUNCTORS[] = {"allOf", "anyOf", "oneOf", NULL};

/* Calls visit(c, child, suffix, lvl) for properties, additionalProperties,
 * items and the junctors' schemas (junctor children get lvl -1). */
typedef void (*child_fn)(sctx *c, const json_t *child, int lvl, int depth);

static void for_children(sctx *c, const json_t *s, int depth, child_fn fn)
{
    const json_t *props = json_object_get(s, "properties"), *v, *ap = json_object_get(s, "additionalProperties");
    const json_t *items = json_object_get(s, "items");
    const char *k;
    pb_buf suffix = {0};
    if (json_is_object(props))
        json_object_foreach((json_t *)props, k, v)
        {
            pb_buf_truncate(&suffix, 0);
            sb_printf(&suffix, ".properties[%s]", k);
            WITH_PATH(c, pb_buf_str(&suffix), fn(c, v, LVL_FIELD, depth + 1));
        }
    if (json_is_object(ap))
        WITH_PATH(c, ".additionalProperties", fn(c, ap, LVL_FIELD, depth + 1));
    if (json_is_object(items))
        WITH_PATH(c, ".items", fn(c, items, LVL_ITEM, depth + 1));
    for (int j = 0; JUNCTORS[j]; j++) {
        const json_t *arr = json_object_get(s, JUNCTORS[j]);
        size_t i;
        json_array_foreach(arr, i, v)
        {
            pb_buf_truncate(&suffix, 0);
            sb_printf(&suffix, ".%s[%zu]", JUNCTORS[j], i);
            WITH_PATH(c, pb_buf_str(&suffix), fn(c, v, -1, depth + 1));
        }
    }
    if (json_is_object(json_object_get(s, "not")))
        WITH_PATH(c, ".not", fn(c, json_object_get(s, "not"), -1, depth + 1));
    pb_buf_free(&suffix);
}

/* Pass A */
static void check_openapi(sctx *c, const json_t *s, int lvl, int depth)
{
    if (!json_is_object(s)) {
        scause(c, NULL, "FieldValueInvalid", "Invalid value: must be a JSON schema object");
        return;
    }
    if (depth > DV_SCHEMA_MAX_DEPTH) {
        char m[128];
        snprintf(m, sizeof m, "Forbidden: schema nesting exceeds the maximum depth of %d", DV_SCHEMA_MAX_DEPTH);
        scause(c, NULL, "FieldValueForbidden", m);
        return;
    }
    const json_t *type = json_object_get(s, "type");
    if (type && !json_is_string(type))
        scause_value(c, "type", "FieldValueInvalid", "Invalid value", type, "must be a string");
    else if (type && !valid_type(json_string_value(type)))
        scause_value(c, "type", "FieldValueNotSupported", "Unsupported value", type,
                     "supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\"");
    if (type && s_true(s, "x-kubernetes-int-or-string"))
        scause_value(c, "type", "FieldValueInvalid", "Invalid value", type,
                     "must be empty if x-kubernetes-int-or-string is true");
    if (json_object_get(s, "$ref"))
        scause(c, "$ref", "FieldValueForbidden", "Forbidden: $ref is not supported");
    if (s_true(s, "uniqueItems"))
        scause(c, "uniqueItems", "FieldValueForbidden",
               "Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic");
    const json_t *ap = json_object_get(s, "additionalProperties");
    if (json_is_false(ap))
        scause(c, "additionalProperties", "FieldValueForbidden",
               "Forbidden: additionalProperties cannot be set to false");
    else if (ap && json_object_get(s, "properties"))
        scause(c, "additionalProperties", "FieldValueForbidden",
               "Forbidden: additionalProperties and properties are mutual exclusive");
    if (json_is_false(json_object_get(s, "x-kubernetes-preserve-unknown-fields")))
        scause_value(c, "x-kubernetes-preserve-unknown-fields", "FieldValueInvalid", "Invalid value",
                     json_object_get(s, "x-kubernetes-preserve-unknown-fields"), "must be true or undefined");
    double mo;
    if (s_num(s, "multipleOf", &mo) && mo <= 0)
        scause_value(c, "multipleOf", "FieldValueInvalid", "Invalid value", json_object_get(s, "multipleOf"),
                     "must be greater than zero");
    const json_t *pat = json_object_get(s, "pattern");
    if (pat && !json_is_string(pat))
        scause_value(c, "pattern", "FieldValueInvalid", "Invalid value", pat, "must be a string");
    const json_t *props = json_object_get(s, "properties"), *items = json_object_get(s, "items");
    if (props && !json_is_object(props))
        scause(c, "properties", "FieldValueInvalid", "Invalid value: must be an object");
    if (json_is_array(items))
        scause(c, "items", "FieldValueForbidden", "Forbidden: items must be a schema object and not an array");
    for (int j = 0; JUNCTORS[j]; j++) {
        const json_t *arr = json_object_get(s, JUNCTORS[j]);
        if (arr && !json_is_array(arr))
            scause(c, JUNCTORS[j], "FieldValueInvalid", "Invalid value: must be an array");
    }
    for_children(c, s, depth, check_openapi);
}

/* anyOf: [{type: integer}, {type: string}] exactly */
static int int_or_string_anyof(const json_t *anyof)
{
    if (!json_is_array(anyof) || json_array_size(anyof) != 2)
        return 0;
    const json_t *a = json_array_get(anyof, 0), *b = json_array_get(anyof, 1);
    return json_object_size(a) == 1 && json_object_size(b) == 1 &&
           !strcmp(s_str(a, "type") ? s_str(a, "type") : "", "integer") &&
           !strcmp(s_str(b, "type") ? s_str(b, "type") : "", "string");
}

/* Pass B, inside a junctor: validateNestedValueValidation */
static void check_nested(sctx *c, const json_t *v, int skip_anyof, int depth)
{
    static const struct {
        const char *key, *msg;
    } forbidden[] = {
        {"type", "Forbidden: must be empty to be structural"},
        {"additionalProperties", "Forbidden: must be undefined to be structural"},
        {"default", "Forbidden: must be undefined to be structural"},
        {"title", "Forbidden: must be empty to be structural"},
        {"description", "Forbidden: must be empty to be structural"},
        {"nullable", "Forbidden: must be false to be structural"},
        {"x-kubernetes-preserve-unknown-fields", "Forbidden: must be false to be structural"},
        {"x-kubernetes-embedded-resource", "Forbidden: must be false to be structural"},
        {"x-kubernetes-int-or-string", "Forbidden: must be false to be structural"},
        {"x-kubernetes-list-map-keys", "Forbidden: must be empty to be structural"},
        {"x-kubernetes-list-type", "Forbidden: must be undefined to be structural"},
        {NULL, NULL},
    };
    if (!json_is_object(v) || depth > DV_SCHEMA_MAX_DEPTH)
        return;
    const json_t *sub;
    const char *k;
    size_t i;
    pb_buf suffix = {0};
    for (int j = 0; JUNCTORS[j]; j++) {
        if (!strcmp(JUNCTORS[j], "anyOf") && skip_anyof)
            continue;
        json_array_foreach(json_object_get(v, JUNCTORS[j]), i, sub)
        {
            pb_buf_truncate(&suffix, 0);
            sb_printf(&suffix, ".%s[%zu]", JUNCTORS[j], i);
            WITH_PATH(c, pb_buf_str(&suffix), check_nested(c, sub, 0, depth + 1));
        }
    }
    if (json_object_get(v, "not"))
        WITH_PATH(c, ".not", check_nested(c, json_object_get(v, "not"), 0, depth + 1));
    if (json_object_get(v, "items"))
        WITH_PATH(c, ".items", check_nested(c, json_object_get(v, "items"), 0, depth + 1));
    const json_t *props = s_obj(v, "properties");
    if (props)
        json_object_foreach((json_t *)props, k, sub)
        {
            pb_buf_truncate(&suffix, 0);
            sb_printf(&suffix, ".properties[%s]", k);
            WITH_PATH(c, pb_buf_str(&suffix), check_nested(c, sub, 0, depth + 1));
        }
    for (int f = 0; forbidden[f].key; f++) {
        const json_t *x = json_object_get(v, forbidden[f].key);
        if (x && !json_is_false(x) && !(json_is_string(x) && !json_string_length(x)))
            scause(c, forbidden[f].key, "FieldValueForbidden", forbidden[f].msg);
    }
    if (props && json_object_get(props, "metadata"))
        scause(c, "properties[metadata]", "FieldValueForbidden",
               "Forbidden: must not be specified in a nested context");
    if (json_is_string(json_object_get(v, "pattern"))) {
        regex_t re;
        char err[300], detail[400];
        int rc = pattern_compile(s_str(v, "pattern"), &re, err, sizeof err);
        if (rc < 0) {
            snprintf(detail, sizeof detail, "must be a valid regular expression, but isn't: %s", err);
            scause_value(c, "pattern", "FieldValueInvalid", "Invalid value", json_object_get(v, "pattern"), detail);
        } else if (rc == 0) {
            regfree(&re);
        }
    }
    pb_buf_free(&suffix);
}

/* The metadata schema at the root may only restrict name and generateName. */
static int metadata_ok(const json_t *meta)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)meta, k, v)
    {
        if (!strcmp(k, "type") || !strcmp(k, "default"))
            continue;
        if (!strcmp(k, "properties") && json_is_object(v)) {
            size_t n = json_object_size(v);
            int name = json_object_get(v, "name") != NULL, gen = json_object_get(v, "generateName") != NULL;
            if ((name && gen && n == 2) || ((name || gen) && n == 1))
                continue;
        }
        return 0;
    }
    return 1;
}

/* Completeness: a property named inside a junctor must also exist in the
 * structural part of the schema. */
static void check_completeness(sctx *c, const json_t *s, const json_t *v, const char *vpath, int depth)
{
    const json_t *sub;
    size_t i;
    pb_buf p = {0};
    if (!json_is_object(v) || depth > DV_SCHEMA_MAX_DEPTH)
        return;
    for (int j = 0; JUNCTORS[j]; j++)
        json_array_foreach(json_object_get(v, JUNCTORS[j]), i, sub)
        {
            pb_buf_truncate(&p, 0);
            sb_printf(&p, "%s.%s[%zu]", vpath, JUNCTORS[j], i);
            const json_t *nprops = s_obj(sub, "properties"), *np;
            const char *k;
            if (nprops)
                json_object_foreach((json_t *)nprops, k, np)
                {
                    const json_t *sprops = s_obj(s, "properties");
                    if (!sprops || !json_object_get(sprops, k)) {
                        pb_buf f = {0}, m = {0};
                        sb_printf(&f, "properties[%s]", k);
                        sb_printf(&m, "Required value: because it is defined in %s.properties[%s]",
                                  pb_buf_str(&p), k);
                        scause(c, pb_buf_str(&f), "FieldValueRequired", pb_buf_str(&m));
                        pb_buf_free(&f);
                        pb_buf_free(&m);
                    }
                }
            check_completeness(c, s, sub, pb_buf_str(&p), depth + 1);
        }
    pb_buf_free(&p);
}

/* Pass B: validateStructuralInvariants + completeness */
static void check_structural(sctx *c, const json_t *s, int lvl, int depth)
{
    if (lvl < 0) {
        /* a junctor's schema, reached through for_children */
        return;
    }
    if (!json_is_object(s) || depth > DV_SCHEMA_MAX_DEPTH)
        return;
    const char *t = s_str(s, "type");
    int ios = s_true(s, "x-kubernetes-int-or-string");
    int pres = s_true(s, "x-kubernetes-preserve-unknown-fields");
    int emb = s_true(s, "x-kubernetes-embedded-resource");
    const json_t *props = s_obj(s, "properties"), *ap = json_object_get(s, "additionalProperties");

    if (t && !strcmp(t, "array") && !json_object_get(s, "items"))
        scause(c, "items", "FieldValueRequired", "Required value: must be specified");
    for_children(c, s, depth, check_structural);
    if (ap && lvl == LVL_ROOT)
        scause(c, "additionalProperties", "FieldValueForbidden", "Forbidden: must not be used at the root");
    if (ios && pres)
        scause_value(c, "x-kubernetes-preserve-unknown-fields", "FieldValueInvalid", "Invalid value", json_true(),
                     "must be false if x-kubernetes-int-or-string is true");
    if (ios && emb)
        scause_value(c, "x-kubernetes-embedded-resource", "FieldValueInvalid", "Invalid value", json_true(),
                     "must be false if x-kubernetes-int-or-string is true");

    /* value validations: junctors, with the two int-or-string exceptions */
    const json_t *sub;
    size_t i;
    pb_buf suffix = {0};
    int skip_anyof = int_or_string_anyof(json_object_get(s, "anyOf"));
    const json_t *allof = json_object_get(s, "allOf");
    int skip_first_allof_anyof =
        json_array_size(allof) >= 1 && int_or_string_anyof(json_object_get(json_array_get(allof, 0), "anyOf"));
    for (int j = 0; JUNCTORS[j]; j++) {
        if (!strcmp(JUNCTORS[j], "anyOf") && skip_anyof)
            continue;
        json_array_foreach(json_object_get(s, JUNCTORS[j]), i, sub)
        {
            pb_buf_truncate(&suffix, 0);
            sb_printf(&suffix, ".%s[%zu]", JUNCTORS[j], i);
            int skip = !strcmp(JUNCTORS[j], "allOf") && i == 0 && skip_first_allof_anyof;
            WITH_PATH(c, pb_buf_str(&suffix), check_nested(c, sub, skip, depth + 1));
        }
    }
    if (json_object_get(s, "not"))
        WITH_PATH(c, ".not", check_nested(c, json_object_get(s, "not"), 0, depth + 1));
    pb_buf_free(&suffix);
    if (json_is_string(json_object_get(s, "pattern"))) {
        regex_t re;
        char err[300], detail[400];
        int rc = pattern_compile(s_str(s, "pattern"), &re, err, sizeof err);
        if (rc < 0) {
            snprintf(detail, sizeof detail, "must be a valid regular expression, but isn't: %s", err);
            scause_value(c, "pattern", "FieldValueInvalid", "Invalid value", json_object_get(s, "pattern"), detail);
        } else if (rc == 0) {
            regfree(&re);
        }
    }

    if (emb && (!t || strcmp(t, "object"))) {
        if (!t)
            scause(c, "type", "FieldValueRequired",
                   "Required value: must be object if x-kubernetes-embedded-resource is true");
        else
            scause_value(c, "type", "FieldValueInvalid", "Invalid value", json_object_get(s, "type"),
                         "must be object if x-kubernetes-embedded-resource is true");
    } else if (!t && !ios && !pres) {
        const char *why = lvl == LVL_ROOT   ? "Required value: must not be empty at the root"
                          : lvl == LVL_ITEM ? "Required value: must not be empty for specified array items"
                                            : "Required value: must not be empty for specified object fields";
        scause(c, "type", "FieldValueRequired", why);
    }
    if (emb && ap)
        scause(c, "additionalProperties", "FieldValueForbidden",
               "Forbidden: must not be used if x-kubernetes-embedded-resource is set");
    if (lvl == LVL_ROOT && t && strcmp(t, "object"))
        scause_value(c, "type", "FieldValueInvalid", "Invalid value", json_object_get(s, "type"),
                     "must be object at the root");
    if (props && (lvl == LVL_ROOT || emb)) {
        static const char *const meta[][2] = {{"kind", "string"}, {"apiVersion", "string"}, {"metadata", "object"}};
        for (int m = 0; m < 3; m++) {
            const json_t *p = json_object_get(props, meta[m][0]);
            if (!p)
                continue;
            const char *pt = s_str(p, "type");
            if (!pt || strcmp(pt, meta[m][1])) {
                pb_buf f = {0}, d = {0};
                json_t *tv = json_string(pt ? pt : "");
                sb_printf(&f, "properties[%s].type", meta[m][0]);
                sb_printf(&d, "must be %s", meta[m][1]);
                scause_value(c, pb_buf_str(&f), "FieldValueInvalid", "Invalid value", tv, pb_buf_str(&d));
                json_decref(tv);
                pb_buf_free(&f);
                pb_buf_free(&d);
            }
        }
    }
    if (props && lvl == LVL_ROOT && json_object_get(props, "metadata") &&
        !metadata_ok(json_object_get(props, "metadata")))
        scause(c, "properties[metadata]", "FieldValueForbidden",
               "Forbidden: must not specify anything other than name and generateName, but metadata is "
               "implicitly specified");
    if (emb && !pres && !(props && json_object_size(props)))
        scause(c, "properties", "FieldValueRequired",
               "Required value: must not be empty if x-kubernetes-embedded-resource is true without "
               "x-kubernetes-preserve-unknown-fields");
    check_completeness(c, s, s, pb_buf_str(&c->path), depth);
}

/* Pass C: ValidateDefaults. The validator is rooted at the node itself, so
 * its messages name the value "" (" in body must be ..."). */
static void check_defaults(sctx *c, const json_t *s, int lvl, int depth)
{
    if (lvl < 0 || !json_is_object(s) || depth > DV_SCHEMA_MAX_DEPTH)
        return;
    const json_t *d = json_object_get(s, "default");
    if (d) {
        json_t *causes = json_array();
        vctx v = {causes, 0, {0}};
        validate_node(&v, s, d, NULL, 0);
        size_t i;
        json_t *e;
        json_array_foreach(causes, i, e)
        {
            const char *f = json_string_value(json_object_get(e, "field"));
            pb_buf child = {0};
            sb_puts(&child, "default");
            if (f && *f) {
                sb_putc(&child, '.');
                sb_puts(&child, f);
            }
            scause(c, pb_buf_str(&child), json_string_value(json_object_get(e, "reason")),
                   json_string_value(json_object_get(e, "message")));
            pb_buf_free(&child);
        }
        json_decref(causes);
        pb_buf_free(&v.path);
    }
    for_children(c, s, depth, check_defaults);
}

static int cmp_causes(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ValidateStructural sorts its errors by their text. */
static void sort_causes(json_t *causes, size_t from)
{
    size_t n = json_array_size(causes) - from;
    if (n < 2)
        return;
    char **keys = calloc(n, sizeof *keys);
    json_t **items = calloc(n, sizeof *items);
    if (!keys || !items)
        abort();
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(causes, from + i);
        /* key = "field: message" + NUL + index, so equal texts stay stable */
        if (asprintf(&keys[i], "%s: %s%c%08zu", json_string_value(json_object_get(e, "field")),
                     json_string_value(json_object_get(e, "message")), 1, i) < 0)
            abort();
        items[i] = json_incref(e);
    }
    qsort(keys, n, sizeof *keys, cmp_causes);
    for (size_t i = 0; i < n; i++) {
        size_t idx = (size_t)strtoul(strrchr(keys[i], 1) + 1, NULL, 10);
        json_array_set(causes, from + i, items[idx]);
    }
    for (size_t i = 0; i < n; i++) {
        json_decref(items[i]);
        free(keys[i]);
    }
    free(keys);
    free(items);
}

int dv_schema_check_structural_causes(const json_t *schema, const char *base, json_t *causes)
{
    json_t *own = causes ? NULL : json_array();
    json_t *out = causes ? causes : own;
    size_t start = json_array_size(out);
    sctx c = {out, 0, {0}};
    sb_puts(&c.path, base && *base ? base : "openAPIV3Schema");
    check_openapi(&c, schema, LVL_ROOT, 0);
    if (c.count == 0) {
        check_structural(&c, schema, LVL_ROOT, 0);
        sort_causes(out, start);
    }
    if (c.count == 0)
        check_defaults(&c, schema, LVL_ROOT, 0);
    pb_buf_free(&c.path);
    json_decref(own);
    return c.count;
}

int dv_schema_check_structural_at(const json_t *schema, const char *base, char *msg, size_t n)
{
    json_t *causes = json_array();
    int count = dv_schema_check_structural_causes(schema, base, causes);
    if (count == 0) {
        json_decref(causes);
        if (msg && n)
            msg[0] = '\0';
        return 0;
    }
    char *s = dv_schema_causes_message(causes);
    if (msg && n)
        snprintf(msg, n, "%s", s ? s : "invalid schema");
    free(s);
    json_decref(causes);
    return -1;
}

int dv_schema_check_structural(const json_t *schema, char *msg, size_t n)
{
    return dv_schema_check_structural_at(schema, NULL, msg, n);
}

/* utilerrors.NewAggregate(...).Error(): one message as is, several in
 * brackets, duplicates dropped. */
char *dv_schema_causes_message(const json_t *causes)
{
    pb_buf m = {0};
    json_t *seen = json_object();
    size_t i, shown = 0;
    const json_t *e;
    json_array_foreach(causes, i, e)
    {
        const char *f = json_string_value(json_object_get(e, "field"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        pb_buf one = {0};
        sb_printf(&one, "%s: %s", f ? f : "", msg ? msg : "");
        if (!json_object_get(seen, pb_buf_str(&one))) {
            json_object_set_new(seen, pb_buf_str(&one), json_true());
            if (shown++)
                sb_puts(&m, ", ");
            sb_puts(&m, pb_buf_str(&one));
        }
        pb_buf_free(&one);
    }
    json_decref(seen);
    if (shown > 1) {
        pb_buf w = {0};
        sb_printf(&w, "[%s]", pb_buf_str(&m));
        pb_buf_free(&m);
        return sb_take(&w);
    }
    return sb_take(&m);
}

char *dv_schema_invalid_message(const char *qualified_kind, const char *name, const json_t *causes)
{
    char *agg = dv_schema_causes_message(causes);
    pb_buf m = {0};
    sb_printf(&m, "%s ", qualified_kind);
    go_quote(&m, name ? name : "", name ? strlen(name) : 0);
    sb_printf(&m, " is invalid: %s", agg ? agg : "");
    free(agg);
    return sb_take(&m);
}
