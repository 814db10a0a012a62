/* Unit tests for util/buf: growth, binary data, printf, take/free, the
 * sticky out-of-memory flag, zero-length appends and truncation. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/err.h"

static void test_zero_is_empty(void **state)
{
    pb_buf b = {0};
    assert_string_equal(pb_buf_str(&b), "");
    assert_int_equal(b.len, 0);
    pb_buf_free(&b); /* freeing an empty buffer is fine */
    pb_buf_free(&b);
    assert_null(b.data);
}

static void test_appends_across_growth(void **state)
{
    pb_buf b = {0};
    char expect[5000];
    for (size_t i = 0; i < sizeof expect - 1; i++) {
        char c = (char)('a' + i % 26);
        expect[i] = c;
        assert_int_equal(pb_buf_append(&b, &c, 1), 0);
        assert_int_equal(b.len, i + 1);
        assert_true(b.cap >= b.len + 1);
        assert_int_equal(b.data[b.len], '\0');
    }
    expect[sizeof expect - 1] = '\0';
    assert_string_equal(b.data, expect);
    assert_false(b.oom);
    pb_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

static void test_one_large_append(void **state)
{
    size_t n = 100000;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'x', n);
    pb_buf b = {0};
    assert_int_equal(pb_buf_puts(&b, "head:"), 0);
    assert_int_equal(pb_buf_append(&b, big, n), 0);
    assert_int_equal(b.len, n + 5);
    assert_memory_equal(b.data, "head:", 5);
    assert_memory_equal(b.data + 5, big, n);
    assert_int_equal(b.data[b.len], '\0');
    free(big);
    pb_buf_free(&b);
}

static void test_binary_with_nuls(void **state)
{
    static const unsigned char bin[] = {0, 1, 0, 255, 0, 'a', 0};
    pb_buf b = {0};
    assert_int_equal(pb_buf_append(&b, bin, sizeof bin), 0);
    assert_int_equal(pb_buf_append(&b, bin, sizeof bin), 0);
    assert_int_equal(b.len, 2 * sizeof bin);
    assert_memory_equal(b.data, bin, sizeof bin);
    assert_memory_equal(b.data + sizeof bin, bin, sizeof bin);
    size_t len = 0;
    char *d = pb_buf_take(&b, &len);
    assert_non_null(d);
    assert_int_equal(len, 2 * sizeof bin);
    assert_memory_equal(d, bin, sizeof bin);
    assert_int_equal(d[len], '\0');
    free(d);
}

static void test_zero_length_appends(void **state)
{
    pb_buf b = {0};
    assert_int_equal(pb_buf_append(&b, NULL, 0), 0);
    assert_int_equal(pb_buf_append(&b, "abc", 0), 0);
    assert_int_equal(pb_buf_puts(&b, ""), 0);
    assert_null(b.data); /* nothing appended, nothing allocated */
    assert_int_equal(b.len, 0);
    assert_int_equal(pb_buf_puts(&b, "ab"), 0);
    assert_int_equal(pb_buf_append(&b, "zz", 0), 0);
    assert_int_equal(pb_buf_printf(&b, "%s", ""), 0);
    assert_string_equal(b.data, "ab");
    assert_int_equal(b.len, 2);
    pb_buf_free(&b);
}

static void test_printf(void **state)
{
    pb_buf b = {0};
    assert_int_equal(pb_buf_printf(&b, "%d-%s", 42, "x"), 0);
    assert_int_equal(pb_buf_puts(&b, "|"), 0);
    assert_int_equal(pb_buf_printf(&b, "%05.1f", 2.5), 0);
    assert_string_equal(b.data, "42-x|002.5");
    assert_int_equal(b.len, strlen("42-x|002.5"));
    pb_buf_free(&b);
}

/* Output longer than the spare room: formatted again after growing, and
 * what was there before is intact. */
static void test_printf_long(void **state)
{
    char word[3001];
    memset(word, 'w', sizeof word - 1);
    word[sizeof word - 1] = '\0';
    pb_buf b = {0};
    assert_int_equal(pb_buf_puts(&b, "start "), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(pb_buf_printf(&b, "[%d:%s]", i, word), 0);
    size_t one = strlen(word) + 4;
    assert_int_equal(b.len, 6 + 5 * one);
    assert_memory_equal(b.data, "start [0:www", 12);
    assert_memory_equal(b.data + 6 + 4 * one, "[4:w", 4);
    assert_int_equal(b.data[b.len - 1], ']');
    assert_int_equal(b.data[b.len], '\0');
    assert_int_equal(strlen(b.data), b.len);
    pb_buf_free(&b);
}

/* A printf that exactly fills the spare room must still grow: the NUL
 * needs a byte too. */
static void test_printf_exact_fit(void **state)
{
    pb_buf b = {0};
    assert_int_equal(pb_buf_reserve(&b, 10), 0);
    size_t room = b.cap - b.len;
    char fill[256];
    assert_true(room < sizeof fill);
    memset(fill, 'f', room);
    fill[room] = '\0';
    assert_int_equal(pb_buf_printf(&b, "%s", fill), 0);
    assert_int_equal(b.len, room);
    assert_string_equal(b.data, fill);
    pb_buf_free(&b);
}

static void test_reserve(void **state)
{
    pb_buf b = {0};
    assert_int_equal(pb_buf_reserve(&b, 4096), 0);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    assert_true(b.cap >= 4097);
    char *before = b.data;
    for (int i = 0; i < 4096; i++)
        assert_int_equal(pb_buf_append(&b, "r", 1), 0);
    assert_ptr_equal(b.data, before); /* no reallocation within the reserve */
    assert_int_equal(b.len, 4096);
    assert_int_equal(pb_buf_reserve(&b, 0), 0);
    pb_buf_free(&b);
}

static void test_take(void **state)
{
    pb_buf b = {0};
    pb_buf_puts(&b, "hello");
    size_t len = 99;
    char *s = pb_buf_take(&b, &len);
    assert_string_equal(s, "hello");
    assert_int_equal(len, 5);
    assert_null(b.data); /* b was reset and can be reused */
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    pb_buf_puts(&b, "again");
    char *t = pb_buf_take(&b, NULL);
    assert_string_equal(t, "again");
    free(s);
    free(t);
}

static void test_take_empty_is_empty_string(void **state)
{
    pb_buf b = {0};
    size_t len = 99;
    char *s = pb_buf_take(&b, &len);
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
}

static void test_sticky_oom(void **state)
{
    pb_buf b = {0};
    pb_buf_puts(&b, "partial");
    b.oom = 1; /* as if a realloc had failed */
    assert_int_equal(pb_buf_append(&b, "x", 1), PB_ENOMEM);
    assert_int_equal(pb_buf_puts(&b, "more"), PB_ENOMEM);
    assert_int_equal(pb_buf_printf(&b, "%d", 1), PB_ENOMEM);
    assert_int_equal(pb_buf_reserve(&b, 1), PB_ENOMEM);
    assert_int_equal(pb_buf_append(&b, NULL, 0), PB_ENOMEM);
    assert_string_equal(b.data, "partial"); /* what came before stays readable */
    assert_int_equal(b.len, 7);
    size_t len = 99;
    assert_null(pb_buf_take(&b, &len)); /* frees the data: ASan checks the leak */
    assert_int_equal(len, 0);
    assert_false(b.oom); /* reset */
    assert_int_equal(pb_buf_puts(&b, "fresh"), 0);
    pb_buf_free(&b);
}

static void test_oom_on_empty_buffer(void **state)
{
    pb_buf b = {.oom = 1};
    assert_int_equal(pb_buf_puts(&b, "x"), PB_ENOMEM);
    assert_null(b.data);
    assert_null(pb_buf_take(&b, NULL));
}

static void test_impossible_size_sets_oom(void **state)
{
    pb_buf b = {0};
    pb_buf_puts(&b, "abc");
    assert_int_equal(pb_buf_reserve(&b, SIZE_MAX - 1), PB_ENOMEM);
    assert_true(b.oom);
    assert_string_equal(b.data, "abc");
    pb_buf_free(&b);
    assert_false(b.oom);
}

static void test_free_clears_oom(void **state)
{
    pb_buf b = {0};
    pb_buf_puts(&b, "abc");
    b.oom = 1;
    pb_buf_free(&b);
    assert_null(b.data);
    assert_false(b.oom);
}

static void test_truncate_and_str(void **state)
{
    pb_buf b = {0};
    pb_buf_truncate(&b, 0); /* empty: no-op */
    assert_string_equal(pb_buf_str(&b), "");
    pb_buf_puts(&b, "spec");
    size_t mark = b.len;
    pb_buf_puts(&b, ".items[2]");
    assert_string_equal(pb_buf_str(&b), "spec.items[2]");
    pb_buf_truncate(&b, mark);
    assert_string_equal(pb_buf_str(&b), "spec");
    assert_int_equal(b.len, 4);
    pb_buf_truncate(&b, 100); /* longer than the contents: no-op */
    assert_int_equal(b.len, 4);
    pb_buf_truncate(&b, 0);
    assert_string_equal(pb_buf_str(&b), "");
    assert_non_null(b.data); /* the allocation is kept */
    pb_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_is_empty),
        cmocka_unit_test(test_appends_across_growth),
        cmocka_unit_test(test_one_large_append),
        cmocka_unit_test(test_binary_with_nuls),
        cmocka_unit_test(test_zero_length_appends),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_printf_long),
        cmocka_unit_test(test_printf_exact_fit),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_take),
        cmocka_unit_test(test_take_empty_is_empty_string),
        cmocka_unit_test(test_sticky_oom),
        cmocka_unit_test(test_oom_on_empty_buffer),
        cmocka_unit_test(test_impossible_size_sets_oom),
        cmocka_unit_test(test_free_clears_oom),
        cmocka_unit_test(test_truncate_and_str),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
