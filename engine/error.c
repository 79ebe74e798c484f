/*
 * error.c - the error table (SOP_ERRNO_MAP in sop.h) turned into names, and
 * the "what: why (object)" messages kept on databases and transactions.
 */
#include "sop.h"

SOP_API const char *sop_strerror(int code)
{
    switch (code) {
#define SOP_XX_STR(name, c, errno_name, msg)                                                       \
    case c:                                                                                        \
        return msg;
        SOP_ERRNO_MAP(SOP_XX_STR)
#undef SOP_XX_STR
    }
    return "unknown error code";
}
