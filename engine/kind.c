/*
 * kind.c - the table of store kinds (kind.h).  A new kind is an entry
 * defined in its own file and one line here.
 */
#include "kind.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

const struct store_kind kind_records = {.name = "records"};

static const struct store_kind *const kinds[] = {&kind_records, &kind_search, &kind_vector};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

const struct store_kind *kind_find(const char *name)
{
    if (!name || !*name)
        return &kind_records;
    for (size_t i = 0; i < NKINDS; i++)
        if (!strcmp(kinds[i]->name, name))
            return kinds[i];
    return NULL;
}

static char names[128];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void names_make(void)
{
    size_t n = 0;
    for (size_t i = 0; i < NKINDS; i++)
        n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s",
                              i == 0            ? ""
                              : i + 1 == NKINDS ? " or "
                                                : ", ",
                              kinds[i]->name);
}

const char *kind_names(void)
{
    pthread_once(&names_once, names_make);
    return names;
}

bool kind_hidden_name(const char *name)
{
    for (size_t i = 0; i < NKINDS; i++) {
        const char *p = kinds[i]->hidden_prefix;
        if (p && !strncmp(name, p, strlen(p)))
            return true;
    }
    return false;
}

int kind_commit_all(sop_txn *t)
{
    int rc = 0;
    for (size_t i = 0; i < NKINDS && rc == 0; i++)
        if (kinds[i]->commit)
            rc = kinds[i]->commit(t);
    return rc;
}
