/*
 * ex_bank.c - the cookbook's TransferFunds in C: one transaction debits an
 * account, credits another (store `accounts`) and logs the transfer (store
 * `logs`), all or nothing.  A transfer that is rolled back, fails, or loses
 * a conflict to another transaction changes neither store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sop.h"
#include "testlib.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sop_db *db;
static uint64_t log_seq = 1;

/* The shared folder fixture, with the database open in `db`. */
static int setup(void **state)
{
    tl_dir_setup(state);
    return sop_db_open(tl_dir, NULL, &db) ? -1 : 0;
}

static int teardown(void **state)
{
    sop_db_close(db);
    db = NULL;
    return tl_dir_teardown(state);
}

/* Account{ID, Balance} and LogEntry{Action, Amount} as JSON text; money in
 * cents. */
static int account_json(char *out, size_t cap, const char *id, int64_t balance)
{
    return snprintf(out, cap, "{\"ID\":\"%s\",\"Balance\":%" PRId64 "}", id, balance);
}

static int64_t account_balance(const void *v, size_t vl)
{
    char buf[128];
    assert_true(vl < sizeof(buf));
    memcpy(buf, v, vl);
    buf[vl] = 0;
    const char *p = strstr(buf, "\"Balance\":");
    assert_non_null(p);
    return strtoll(p + 10, NULL, 10);
}

/* A uuid-shaped log key, unique in this process. */
static void new_log_key(char *k)
{
    uint64_t x = log_seq++ * 0x9E3779B97F4A7C15ull;
    snprintf(k, 37, "%08x-%04x-4%03x-8%03x-%012" PRIx64, (unsigned)(x >> 32),
             (unsigned)(x >> 16) & 0xffff, (unsigned)x & 0xfff, (unsigned)(x >> 40) & 0xfff,
             (uint64_t)((x ^ log_seq) & 0xffffffffffffull));
}

static void setup_bank(void)
{
    sop_txn *t;
    sop_store *acc, *logs;
    char v[128];
    static const struct {
        const char *id;
        int64_t balance;
    } start[] = {{"alice", 10000}, {"bob", 5000}, {"carol", 2500}, {"dave", 0}};
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store_options o = {.slot_length = 4, .unique = true, .value_in_node = true};
    assert_int_equal(sop_store_create(t, "accounts", &o, &acc), 0);
    assert_int_equal(sop_store_create(t, "logs", &o, &logs), 0);
    for (size_t i = 0; i < sizeof(start) / sizeof(start[0]); i++) {
        int vl = account_json(v, sizeof(v), start[i].id, start[i].balance);
        assert_int_equal(sop_add(acc, start[i].id, strlen(start[i].id), v, (size_t)vl), 0);
    }
    assert_int_equal(sop_txn_commit(t), 0);
}

/* Deduct, add, log: everything of TransferFunds but the commit.  Returns
 * 0 with *out the open transaction, or an error with nothing left open. */
static int transfer_begin(const char *from, const char *to, int64_t amount, sop_txn **out)
{
    sop_txn *t;
    sop_store *acc, *logs;
    const void *v;
    size_t vl;
    char buf[128], lk[40];
    int rc;
    if ((rc = sop_txn_begin(db, SOP_TXN_WRITE, &t)) != 0)
        return rc;
    if ((rc = sop_store_open(t, "accounts", &acc)) != 0 ||
        (rc = sop_store_open(t, "logs", &logs)) != 0)
        goto fail;
    /* deduct */
    if ((rc = sop_get(acc, from, strlen(from), &v, &vl)) != 0)
        goto fail;
    int64_t fb = account_balance(v, vl);
    if (fb < amount) {
        rc = SOP_EINVAL; /* insufficient funds */
        goto fail;
    }
    int n = account_json(buf, sizeof(buf), from, fb - amount);
    if ((rc = sop_update(acc, from, strlen(from), buf, (size_t)n)) != 0)
        goto fail;
    /* add */
    if ((rc = sop_get(acc, to, strlen(to), &v, &vl)) != 0)
        goto fail;
    n = account_json(buf, sizeof(buf), to, account_balance(v, vl) + amount);
    if ((rc = sop_update(acc, to, strlen(to), buf, (size_t)n)) != 0)
        goto fail;
    /* log */
    new_log_key(lk);
    n = snprintf(buf, sizeof(buf),
                 "{\"Action\":\"Transfer\",\"From\":\"%s\",\"To\":\"%s\",\"Amount\":%" PRId64 "}",
                 from, to, amount);
    if ((rc = sop_add(logs, lk, strlen(lk), buf, (size_t)n)) != 0)
        goto fail;
    *out = t;
    return 0;
fail:
    sop_txn_rollback(t);
    return rc;
}

/* TransferFunds: all or nothing. */
static int transfer_funds(const char *from, const char *to, int64_t amount)
{
    sop_txn *t;
    int rc = transfer_begin(from, to, amount, &t);
    return rc ? rc : sop_txn_commit(t);
}

static int64_t balance_of(const char *id)
{
    sop_txn *t;
    sop_store *acc;
    const void *v;
    size_t vl;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "accounts", &acc), 0);
    assert_int_equal(sop_get(acc, id, strlen(id), &v, &vl), 0);
    int64_t b = account_balance(v, vl);
    assert_int_equal(sop_txn_commit(t), 0);
    return b;
}

static uint64_t log_count(void)
{
    sop_txn *t;
    sop_store *logs;
    uint64_t n;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "logs", &logs), 0);
    assert_int_equal(sop_store_count(logs, &n), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    return n;
}

static void expect_balances(int64_t a, int64_t b, int64_t c, int64_t d)
{
    assert_int_equal(balance_of("alice"), a);
    assert_int_equal(balance_of("bob"), b);
    assert_int_equal(balance_of("carol"), c);
    assert_int_equal(balance_of("dave"), d);
}

static void transfer_moves_money_and_logs_it(void **state)
{
    (void)state;
    setup_bank();
    assert_int_equal(transfer_funds("alice", "bob", 2550), 0);
    expect_balances(7450, 7550, 2500, 0);
    assert_int_equal(log_count(), 1);
    /* the log says what happened */
    sop_txn *t;
    sop_store *logs;
    sop_cursor *c;
    const void *v;
    size_t vl;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "logs", &logs), 0);
    assert_int_equal(sop_cursor_open(logs, &c), 0);
    assert_int_equal(sop_cursor_first(c), 0);
    assert_int_equal(sop_cursor_value(c, &v, &vl), 0);
    const char *want =
        "{\"Action\":\"Transfer\",\"From\":\"alice\",\"To\":\"bob\",\"Amount\":2550}";
    assert_int_equal(vl, strlen(want));
    assert_memory_equal(v, want, vl);
    assert_int_equal(sop_cursor_next(c), SOP_ENOTFOUND);
    sop_cursor_close(c);
    assert_int_equal(sop_txn_commit(t), 0);
    /* and it all survives a restart */
    sop_db_close(db);
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
    expect_balances(7450, 7550, 2500, 0);
    assert_int_equal(log_count(), 1);
}

static void conflicting_transfer_changes_neither_store(void **state)
{
    (void)state;
    setup_bank();
    sop_txn *slow;
    /* a transfer from alice is under way when another one from alice commits */
    assert_int_equal(transfer_begin("alice", "bob", 1000, &slow), 0);
    assert_int_equal(transfer_funds("alice", "carol", 300), 0);
    assert_int_equal(sop_txn_commit(slow), SOP_ECONFLICT);
    expect_balances(9700, 5000, 2800, 0);
    assert_int_equal(log_count(), 1);
    /* one that touches the credited account only conflicts too */
    assert_int_equal(transfer_begin("dave", "bob", 0, &slow), 0);
    assert_int_equal(transfer_funds("carol", "bob", 800), 0);
    assert_int_equal(sop_txn_commit(slow), SOP_ECONFLICT);
    expect_balances(9700, 5800, 2000, 0);
    assert_int_equal(log_count(), 2);
    /* disjoint accounts: both commit, both logged */
    assert_int_equal(transfer_begin("alice", "dave", 100, &slow), 0);
    assert_int_equal(transfer_funds("carol", "bob", 100), 0);
    assert_int_equal(sop_txn_commit(slow), 0);
    expect_balances(9600, 5900, 1900, 100);
    assert_int_equal(log_count(), 4);
    /* the retry of a conflicted transfer goes through */
    assert_int_equal(transfer_funds("alice", "bob", 1000), 0);
    expect_balances(8600, 6900, 1900, 100);
    assert_int_equal(log_count(), 5);
}

static void rolled_back_or_failed_transfer_changes_nothing(void **state)
{
    (void)state;
    setup_bank();
    sop_txn *t;
    assert_int_equal(transfer_begin("alice", "bob", 5000, &t), 0);
    sop_txn_rollback(t);
    expect_balances(10000, 5000, 2500, 0);
    assert_int_equal(log_count(), 0);
    /* insufficient funds: refused before anything is written */
    assert_int_equal(transfer_funds("dave", "alice", 1), SOP_EINVAL);
    /* unknown payee: the debit already made in the transaction goes too */
    assert_int_equal(transfer_funds("alice", "mallory", 100), SOP_ENOTFOUND);
    expect_balances(10000, 5000, 2500, 0);
    assert_int_equal(log_count(), 0);
}

static void many_transfers_keep_the_total(void **state)
{
    (void)state;
    setup_bank();
    static const char *const ids[] = {"alice", "bob", "carol", "dave"};
    uint64_t rng = tl_seed("many_transfers_keep_the_total");
    int ok = 0, refused = 0;
    for (int i = 0; i < (int)(300 * tl_scale()); i++) {
        int f = (int)(tl_rand(&rng) % 4), to = (int)(tl_rand(&rng) % 3);
        if (to >= f)
            to++;
        int rc = transfer_funds(ids[f], ids[to], (int64_t)(tl_rand(&rng) % 3000));
        assert_true(rc == 0 || rc == SOP_EINVAL);
        rc == 0 ? ok++ : refused++;
    }
    int64_t total = 0;
    for (int i = 0; i < 4; i++) {
        int64_t b = balance_of(ids[i]);
        assert_true(b >= 0);
        total += b;
    }
    assert_int_equal(total, 17500);
    assert_int_equal(log_count(), (uint64_t)ok);
    print_message("# bank: %d transfers, %d refused for lack of funds\n", ok, refused);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(transfer_moves_money_and_logs_it, setup, teardown),
        cmocka_unit_test_setup_teardown(conflicting_transfer_changes_neither_store, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rolled_back_or_failed_transfer_changes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(many_transfers_keep_the_total, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
