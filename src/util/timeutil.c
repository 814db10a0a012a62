/*
 * timeutil.c - RFC 3339 and Go duration parsing/formatting (see timeutil.h).
 *
 * Hand-written on purpose: strptime() is locale-dependent, does not know
 * fractional seconds or numeric offsets portably, and Go's duration syntax
 * has no libc equivalent.
 */
#include "util/timeutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct timespec pb_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts;
}

int64_t pb_time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double pb_time_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- durations ----------------------------------------------------------------- */

static const struct {
    const char *name;
    uint64_t ns;
} units[] = {
    {"ns", 1},           {"us", 1000},         {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000}, /* U+03BC Greek mu */  {"ms", 1000000},
    {"s", 1000000000ull}, {"m", 60000000000ull}, {"h", 3600000000000ull},
};

static int bad_duration(pb_err *err, const char *s, const char *why)
{
    return pb_err_set(err, PB_EINVAL, "invalid duration \"%s\": %s", s, why);
}

int pb_time_parse_duration(const char *s, pb_duration *out, pb_err *err)
{
    if (!s)
        return pb_err_set(err, PB_EINVAL, "invalid duration: NULL");
    const char *p = s;
    int neg = 0;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    if (strcmp(p, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (*p == '\0')
        return bad_duration(err, s, "empty");

    const uint64_t limit = (uint64_t)INT64_MAX + (neg ? 1 : 0);
    uint64_t total = 0;
    while (*p) {
        /* number: digits [ '.' digits ], at least one digit overall */
        uint64_t v = 0;
        int digits = 0, overflow = 0;
        for (; *p >= '0' && *p <= '9'; p++, digits++) {
            if (v > (UINT64_MAX - 9) / 10)
                overflow = 1;
            else
                v = v * 10 + (uint64_t)(*p - '0');
        }
        uint64_t frac = 0, scale = 1;
        int frac_digits = 0;
        if (*p == '.') {
            for (p++; *p >= '0' && *p <= '9'; p++, frac_digits++) {
                if (scale < 1000000000000000000ull) { /* extra digits are below 1ns anyway */
                    frac = frac * 10 + (uint64_t)(*p - '0');
                    scale *= 10;
                }
            }
        }
        if (digits == 0 && frac_digits == 0)
            return bad_duration(err, s, "expected a number");
        if (overflow)
            return bad_duration(err, s, "out of range");

        const char *u = p;
        while (*p && *p != '.' && !(*p >= '0' && *p <= '9'))
            p++;
        size_t ulen = (size_t)(p - u);
        if (ulen == 0)
            return bad_duration(err, s, "missing unit (use ns, us, ms, s, m or h)");
        uint64_t unit = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strlen(units[i].name) == ulen && memcmp(units[i].name, u, ulen) == 0)
                unit = units[i].ns;
        if (!unit)
            return pb_err_set(err, PB_EINVAL, "invalid duration \"%s\": unknown unit \"%.*s\"", s,
                              (int)ulen, u);

        if (v > limit / unit)
            return bad_duration(err, s, "out of range");
        v *= unit;
        if (frac) /* as Go does: the fraction is scaled in floating point */
            v += (uint64_t)((double)frac * ((double)unit / (double)scale));
        if (v > limit - total)
            return bad_duration(err, s, "out of range");
        total += v;
    }
    *out = neg ? (pb_duration)(0 - total) : (pb_duration)total;
    return 0;
}

/* Append v / 10^prec with its fraction (trailing zeros trimmed). */
static size_t put_frac(char *buf, size_t n, uint64_t v, int prec)
{
    uint64_t pow = 1;
    for (int i = 0; i < prec; i++)
        pow *= 10;
    uint64_t whole = v / pow, frac = v % pow;
    int len = snprintf(buf, n, "%" PRIu64, whole);
    if (frac && len >= 0) {
        char digits[24];
        snprintf(digits, sizeof digits, "%0*" PRIu64, prec, frac);
        size_t d = strlen(digits);
        while (d && digits[d - 1] == '0')
            digits[--d] = '\0';
        len += snprintf(buf + ((size_t)len < n ? (size_t)len : n), (size_t)len < n ? n - (size_t)len : 0,
                        ".%s", digits);
    }
    return len < 0 ? 0 : (size_t)len;
}

char *pb_time_format_duration(pb_duration d, char *buf, size_t n)
{
    if (n == 0)
        return buf;
    if (d == 0) {
        snprintf(buf, n, "0s");
        return buf;
    }
    uint64_t u = d < 0 ? 0 - (uint64_t)d : (uint64_t)d;
    char tmp[PB_TIME_BUF];
    size_t len = 0;
    if (d < 0)
        tmp[len++] = '-';
    if (u < 1000000000ull) {
        const char *unit;
        int prec;
        if (u < 1000) {
            unit = "ns";
            prec = 0;
        } else if (u < 1000000) {
            unit = "\xc2\xb5s"; /* Go prints U+00B5 */
            prec = 3;
        } else {
            unit = "ms";
            prec = 6;
        }
        len += put_frac(tmp + len, sizeof tmp - len, u, prec);
        snprintf(tmp + len, sizeof tmp - len, "%s", unit);
    } else {
        uint64_t hours = u / 3600000000000ull;
        uint64_t mins = u / 60000000000ull % 60;
        uint64_t secs_ns = u % 60000000000ull;
        if (hours)
            len += (size_t)snprintf(tmp + len, sizeof tmp - len, "%" PRIu64 "h", hours);
        if (hours || mins)
            len += (size_t)snprintf(tmp + len, sizeof tmp - len, "%" PRIu64 "m", mins);
        len += put_frac(tmp + len, sizeof tmp - len, secs_ns, 9);
        snprintf(tmp + len, sizeof tmp - len, "s");
    }
    snprintf(buf, n, "%s", tmp);
    return buf;
}

/* ---- RFC 3339 ---------------------------------------------------------------------- */

/* Read exactly `width` digits. */
static int digits(const char **p, int width, int *out)
{
    int v = 0;
    for (int i = 0; i < width; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += width;
    *out = v;
    return 0;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil); avoids timegm()'s dependence on time_t range quirks. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int bad_time(pb_err *err, const char *s, const char *why)
{
    return pb_err_set(err, PB_EINVAL, "invalid RFC 3339 time \"%s\": %s", s, why);
}

int pb_time_parse_rfc3339(const char *s, struct timespec *out, pb_err *err)
{
    if (!s)
        return pb_err_set(err, PB_EINVAL, "invalid RFC 3339 time: NULL");
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = s;
    int Y, M, D, h, m, sec;
    if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' || digits(&p, 2, &D))
        return bad_time(err, s, "expected YYYY-MM-DD");
    if (*p != 'T' && *p != 't')
        return bad_time(err, s, "expected 'T' after the date");
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' || digits(&p, 2, &sec))
        return bad_time(err, s, "expected hh:mm:ss");
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] + (M == 2 && is_leap(Y)))
        return bad_time(err, s, "day or month out of range");
    if (h > 23 || m > 59 || sec > 59)
        return bad_time(err, s, "time of day out of range");

    long nsec = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        for (; *p >= '0' && *p <= '9'; p++, n++) {
            if (n >= 9)
                return bad_time(err, s, "more than 9 fraction digits");
            nsec = nsec * 10 + (*p - '0');
        }
        if (n == 0)
            return bad_time(err, s, "empty fraction");
        for (; n < 9; n++)
            nsec *= 10;
    }

    int offset = 0; /* seconds east of UTC */
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
            return bad_time(err, s, "bad UTC offset (want Z or +hh:mm)");
        offset = sign * (oh * 3600 + om * 60);
    } else {
        return bad_time(err, s, "missing time zone (want Z or +hh:mm)");
    }
    if (*p)
        return bad_time(err, s, "trailing characters");

    int64_t secs = days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec - offset;
    out->tv_sec = (time_t)secs;
    out->tv_nsec = nsec;
    return 0;
}

/* Split t into civil UTC fields; -1 when the year is not 4 digits. */
static int civil(struct timespec t, int *Y, int *M, int *D, int *h, int *m, int *s)
{
    int64_t secs = (int64_t)t.tv_sec;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - days * 86400;
    /* civil_from_days (Hinnant) */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t mo = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (mo <= 2);
    if (y < 0 || y > 9999)
        return -1;
    *Y = (int)y;
    *M = (int)mo;
    *D = (int)d;
    *h = (int)(rem / 3600);
    *m = (int)(rem / 60 % 60);
    *s = (int)(rem % 60);
    return 0;
}

/* frac_digits: 0 none, 6 fixed micro, -1 trimmed nano. */
static char *format_time(struct timespec t, char *buf, size_t n, int frac_digits)
{
    int Y, M, D, h, m, s;
    if (n == 0)
        return buf;
    buf[0] = '\0';
    if (t.tv_nsec < 0 || t.tv_nsec > 999999999 || civil(t, &Y, &M, &D, &h, &m, &s))
        return buf;
    char frac[32] = "";
    if (frac_digits == 6) {
        snprintf(frac, sizeof frac, ".%06ld", t.tv_nsec / 1000);
    } else if (frac_digits < 0 && t.tv_nsec) {
        snprintf(frac, sizeof frac, ".%09ld", t.tv_nsec);
        size_t len = strlen(frac);
        while (frac[len - 1] == '0')
            frac[--len] = '\0';
    }
    snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", Y, M, D, h, m, s, frac);
    return buf;
}

char *pb_time_format_rfc3339(struct timespec t, char *buf, size_t n)
{
    return format_time(t, buf, n, 0);
}

char *pb_time_format_rfc3339_micro(struct timespec t, char *buf, size_t n)
{
    return format_time(t, buf, n, 6);
}

char *pb_time_format_rfc3339_nano(struct timespec t, char *buf, size_t n)
{
    return format_time(t, buf, n, -1);
}
