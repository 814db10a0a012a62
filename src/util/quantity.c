/*
 * quantity.c - Kubernetes resource quantities (see quantity.h).
 *
 * A parsed value is sign * mag * 10^exp with mag an unsigned 128-bit
 * integer (up to 38 decimal digits) kept without trailing zeros, so two
 * equal values always have the same (sign, mag, exp) and comparison needs
 * no floating point. The parse mirrors apimachinery's scanner step by step,
 * including its fast path, because that path decides whether the API server
 * keeps the text as written.
 */
#include "util/quantity.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef unsigned __int128 u128;

enum { FMT_DECIMAL_SI, FMT_BINARY_SI, FMT_DECIMAL_EXP };

#define MAX_DIGITS 38
#define MAX_EXP 2147483647LL /* the exponent is an int32 that is negated */

typedef struct qty {
    int neg;
    u128 mag;      /* no trailing zeros; 0 means zero (neg 0, exp 0) */
    long long exp; /* decimal exponent */
    int format;
    int verbatim; /* the real parser keeps the input text */
} qty;

static u128 pow10_u128(int k)
{
    u128 p = 1;
    while (k-- > 0)
        p *= 10;
    return p;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static void normalize(qty *q)
{
    if (q->mag == 0) {
        q->neg = 0;
        q->exp = 0;
        return;
    }
    while (q->mag % 10 == 0) {
        q->mag /= 10;
        q->exp++;
    }
}

/* Interpret a suffix; 0, or -1 when it is not one. */
static int interpret_suffix(const char *s, size_t len, int *base, long long *exponent, int *format)
{
    static const struct { const char *s; int base, exp, format; } table[] = {
        {"", 10, 0, FMT_DECIMAL_SI},   {"n", 10, -9, FMT_DECIMAL_SI}, {"u", 10, -6, FMT_DECIMAL_SI},
        {"m", 10, -3, FMT_DECIMAL_SI}, {"k", 10, 3, FMT_DECIMAL_SI},  {"M", 10, 6, FMT_DECIMAL_SI},
        {"G", 10, 9, FMT_DECIMAL_SI},  {"T", 10, 12, FMT_DECIMAL_SI}, {"P", 10, 15, FMT_DECIMAL_SI},
        {"E", 10, 18, FMT_DECIMAL_SI}, {"Ki", 2, 10, FMT_BINARY_SI},  {"Mi", 2, 20, FMT_BINARY_SI},
        {"Gi", 2, 30, FMT_BINARY_SI},  {"Ti", 2, 40, FMT_BINARY_SI},  {"Pi", 2, 50, FMT_BINARY_SI},
        {"Ei", 2, 60, FMT_BINARY_SI},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strlen(table[i].s) == len && memcmp(table[i].s, s, len) == 0) {
            *base = table[i].base;
            *exponent = table[i].exp;
            *format = table[i].format;
            return 0;
        }
    }
    if (len < 2 || (s[0] != 'e' && s[0] != 'E'))
        return -1;
    /* e<int>: Go's ParseInt (optional sign, at least one digit). */
    size_t i = 1;
    int neg = 0;
    if (s[i] == '+' || s[i] == '-')
        neg = s[i++] == '-';
    if (i == len)
        return -1;
    long long v = 0;
    for (; i < len; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
        if (v > MAX_EXP)
            return -1;
    }
    *base = 10;
    *exponent = neg ? -v : v;
    *format = FMT_DECIMAL_EXP;
    return 0;
}

/* value * 10^exp > limit (all non-negative)? exp >= -38. */
static int greater_than(u128 mag, long long exp, u128 limit)
{
    if (exp >= 0) {
        if (mag == 0)
            return 0;
        if (exp > MAX_DIGITS)
            return 1;
        u128 p = pow10_u128((int)exp), v;
        if (__builtin_mul_overflow(mag, p, &v))
            return 1;
        return v > limit;
    }
    /* mag > limit * 10^-exp  <=>  mag / 10^-exp > limit, exactly on integers */
    u128 p = pow10_u128((int)-exp);
    u128 whole = mag / p;
    return whole > limit || (whole == limit && mag % p != 0);
}

static int parse(const char *str, qty *q, pb_err *err)
{
    memset(q, 0, sizeof *q);
    size_t end = strlen(str);
    if (end == 0)
        return pb_err_set(err, PB_EINVAL, "%s", PB_QUANTITY_ERR_FORMAT);
    if (end > PB_QUANTITY_MAX_LEN)
        return pb_err_set(err, PB_ETOOLARGE, "quantity longer than %d characters", PB_QUANTITY_MAX_LEN);
    if (strcmp(str, "0") == 0) {
        q->verbatim = 1;
        return 0;
    }

    /* The scanner: sign, leading zeros, numerator, '.', denominator, suffix. */
    size_t pos = 0;
    int positive = 1;
    if (str[0] == '-' || str[0] == '+') {
        positive = str[0] == '+';
        pos++;
    }
    while (pos < end && str[pos] == '0')
        pos++;
    const char *num = str + pos, *denom = "";
    size_t num_len = 0, denom_len = 0;
    const char *suffix = "";
    size_t suffix_len = 0;
    if (pos < end) {
        while (pos + num_len < end && is_digit(str[pos + num_len]))
            num_len++;
        pos += num_len;
        if (pos < end && str[pos] == '.') {
            pos++;
            denom = str + pos;
            while (pos < end && is_digit(str[pos]))
                pos++;
            denom_len = (size_t)(str + pos - denom);
        }
        size_t suffix_start = pos;
        while (pos < end && strchr("eEinumkKMGTP", str[pos]))
            pos++;
        if (pos < end && (str[pos] == '-' || str[pos] == '+'))
            pos++;
        while (pos < end && is_digit(str[pos]))
            pos++;
        if (pos < end)
            return pb_err_set(err, PB_EINVAL, "%s", PB_QUANTITY_ERR_FORMAT);
        suffix = str + suffix_start;
        suffix_len = end - suffix_start;
    }
    if (num_len == 0) {
        num = "0";
        num_len = 1;
    }

    int base, format;
    long long exponent;
    if (interpret_suffix(suffix, suffix_len, &base, &exponent, &format) != 0)
        return pb_err_set(err, PB_EINVAL, "%s", PB_QUANTITY_ERR_SUFFIX);
    q->format = format;

    /* The real parser keeps the text when its fast (int64) path finds the
     * digits already canonical; reproduce exactly that decision. */
    if (base == 10) {
        long long scale = exponent - (long long)denom_len;
        if (num_len + denom_len <= 18 && scale >= -9) {
            char shifted[48];
            snprintf(shifted, sizeof shifted, "%.*s%.*s", (int)num_len, num, (int)denom_len, denom);
            size_t sl = strlen(shifted);
            int zeros3 = sl >= 3 && memcmp(shifted + sl - 3, "000", 3) == 0;
            q->verbatim = scale % 3 == 0 && !zeros3 && shifted[0] != '0';
        }
    } else if (denom_len == 0) {
        long long precision = 15 - (long long)num_len - exponent * 3 / 10 - 1;
        if (precision >= 0) {
            unsigned long long v = 0;
            for (size_t i = 0; i < num_len; i++)
                v = v * 10 + (unsigned long long)(num[i] - '0');
            unsigned long long r;
            if (!__builtin_mul_overflow(v, 1ULL << exponent, &r) && r <= (unsigned long long)INT64_MAX)
                q->verbatim = (v & 7) != 0;
        }
    }

    /* The exact value: the digits of num and denom as one integer, its
     * trailing zeros moved into the exponent. */
    char all[PB_QUANTITY_MAX_LEN + 2];
    snprintf(all, sizeof all, "%.*s%.*s", (int)num_len, num, (int)denom_len, denom);
    size_t first = strspn(all, "0"), total = strlen(all), last = total;
    while (last > first && all[last - 1] == '0')
        last--;
    if (last - first > MAX_DIGITS)
        return pb_err_set(err, PB_ETOOLARGE, "quantity has more than %d significant digits", MAX_DIGITS);
    u128 mag = 0;
    for (size_t i = first; i < last; i++)
        mag = mag * 10 + (u128)(all[i] - '0');
    long long exp = (long long)(total - last) - (long long)denom_len;
    q->neg = !positive;
    q->mag = mag;
    q->exp = exp;
    normalize(q);
    if (base == 10) {
        q->exp += exponent;
    } else if (q->mag && __builtin_mul_overflow(q->mag, (u128)1 << exponent, &q->mag)) {
        return pb_err_set(err, PB_ETOOLARGE, "quantity out of range");
    }
    normalize(q);

    /* Round up (away from zero) to the nano. */
    if (q->mag && q->exp < -9) {
        long long k = -9 - q->exp;
        if (k > MAX_DIGITS) {
            q->mag = 1;
        } else {
            u128 p = pow10_u128((int)k);
            q->mag = q->mag / p + (q->mag % p != 0);
        }
        q->exp = -9;
        normalize(q);
    }
    if (q->format == FMT_BINARY_SI) {
        if (greater_than(q->mag, q->exp, (u128)INT64_MAX)) {
            q->mag = (u128)INT64_MAX;
            q->exp = 0;
        }
        /* exp >= -9 here, so 10^-exp fits. */
        if (q->mag && q->exp < 0 && q->mag < pow10_u128((int)-q->exp))
            q->format = FMT_DECIMAL_SI; /* between 0 and 1 */
    }
    return 0;
}

static size_t put_u128(char *buf, u128 v)
{
    char tmp[48];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = 0;
    return n;
}

/* CanonicalizeBytes: the text of a parsed value. */
static void format(const qty *q, char *out, size_t n)
{
    if (q->mag == 0) {
        snprintf(out, n, "0");
        return;
    }
    const char *sign = q->neg ? "-" : "";
    char digits[64];
    if (q->format == FMT_BINARY_SI && q->exp >= 0 && greater_than(q->mag, q->exp, 1023)) {
        /* A whole number of at least 1024 (capped below 2^63): base 1024. */
        unsigned long long v = (unsigned long long)(q->mag * pow10_u128((int)q->exp));
        static const char *const bin[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
        int k = 0;
        while (v % 1024 == 0 && k < 6) {
            v /= 1024;
            k++;
        }
        snprintf(out, n, "%s%llu%s", sign, v, bin[k]);
        return;
    }
    /* Decimal: the exponent lowered to a multiple of 3 with zeros added. */
    size_t len = put_u128(digits, q->mag);
    long long e = q->exp;
    int r = (int)(((e % 3) + 3) % 3);
    for (int i = 0; i < r; i++)
        digits[len++] = '0';
    digits[len] = 0;
    e -= r;
    if (q->format == FMT_DECIMAL_EXP || e > 18) {
        /* Past "E" DecimalSI has no suffix: exponent notation keeps the value. */
        if (e == 0)
            snprintf(out, n, "%s%s", sign, digits);
        else
            snprintf(out, n, "%s%se%lld", sign, digits, e);
        return;
    }
    static const char *const dec[] = {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"};
    snprintf(out, n, "%s%s%s", sign, digits, dec[(e + 9) / 3]);
}

int pb_quantity_canonical(const char *s, char *out, size_t n, pb_err *err)
{
    qty q;
    int rc = parse(s, &q, err);
    if (rc != 0)
        return rc;
    char buf[PB_QUANTITY_BUF];
    if (q.verbatim)
        snprintf(buf, sizeof buf, "%s", s);
    else
        format(&q, buf, sizeof buf);
    if (strlen(buf) >= n)
        return pb_err_set(err, PB_ETOOLARGE, "quantity buffer too small (%zu bytes)", n);
    memcpy(out, buf, strlen(buf) + 1);
    return 0;
}

/* Compare magnitudes a*10^ea and b*10^eb (both normalized). */
static int cmp_mag(u128 a, long long ea, u128 b, long long eb)
{
    if (a == 0 || b == 0)
        return (a != 0) - (b != 0);
    if (ea >= eb) {
        long long d = ea - eb;
        u128 v;
        if (d > MAX_DIGITS || __builtin_mul_overflow(a, pow10_u128((int)d), &v))
            return 1;
        return (v > b) - (v < b);
    }
    return -cmp_mag(b, eb, a, ea);
}

int pb_quantity_cmp(const char *a, const char *b, int *result, pb_err *err)
{
    qty x, y;
    int rc = parse(a, &x, err);
    if (rc != 0)
        return pb_err_wrap(err, "\"%s\"", a);
    if ((rc = parse(b, &y, err)) != 0)
        return pb_err_wrap(err, "\"%s\"", b);
    int sx = x.mag == 0 ? 0 : x.neg ? -1 : 1;
    int sy = y.mag == 0 ? 0 : y.neg ? -1 : 1;
    if (sx != sy)
        *result = sx < sy ? -1 : 1;
    else
        *result = sx * cmp_mag(x.mag, x.exp, y.mag, y.exp);
    return 0;
}

int pb_quantity_equal(const char *a, const char *b)
{
    int c;
    return pb_quantity_cmp(a, b, &c, NULL) == 0 && c == 0;
}

int pb_quantity_valid(const char *s)
{
    qty q;
    return parse(s, &q, NULL) == 0;
}

int pb_quantity_is_integer(const char *s)
{
    qty q;
    return parse(s, &q, NULL) == 0 && q.exp >= 0; /* normalized: no trailing zeros */
}
