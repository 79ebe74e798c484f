# libsop: the engine. libsop_core is the same objects, linked statically into
# tests (which reach private module functions); libsop.la is what installs.
ENGINE_SOURCES = \
	engine/sop.h engine/error.c \
	engine/os.h engine/os.c \
	engine/corrupt.h engine/corrupt.c \
	engine/codec.h engine/codec.c \
	engine/dbid.h engine/dbid.c \
	engine/coord.h engine/coord.c engine/coord_local.c \
	engine/order.h engine/order.c \
	engine/cluster.h engine/cluster.c \
	engine/registry.h engine/registry.c \
	engine/blob.h engine/blob.c \
	engine/node.h engine/node.c \
	engine/cache.h engine/cache.c \
	engine/txnbase.h engine/txnbase.c \
	engine/overlay.h engine/overlay.c \
	engine/rwset.h engine/rwset.c \
	engine/btree.h engine/btree.c \
	engine/value.h engine/value.c \
	engine/store.h engine/store.c \
	engine/item.h engine/item.c \
	engine/cursor.h engine/cursor.c \
	engine/txn.c \
	engine/db.h engine/db.c engine/reclaim.h engine/reclaim.c engine/open.c engine/compact.c engine/check.c engine/usage.c \
	engine/kind.h engine/kind.c \
	engine/search.h engine/search.c engine/vector.c

if HAVE_HIREDIS
ENGINE_SOURCES += engine/coord_redis.c
endif
EXTRA_DIST += engine/coord_redis.c

noinst_LTLIBRARIES += engine/libsop_core.la
engine_libsop_core_la_SOURCES = $(ENGINE_SOURCES)
engine_libsop_core_la_CPPFLAGS = $(SOP_CPPFLAGS) -DSOP_BUILDING
engine_libsop_core_la_CFLAGS = $(AM_CFLAGS) $(UUID_CFLAGS) $(ZLIB_CFLAGS) $(HIREDIS_CFLAGS)
engine_libsop_core_la_LIBADD = $(UUID_LIBS) $(ZLIB_LIBS) $(HIREDIS_LIBS) -lm

lib_LTLIBRARIES += engine/libsop.la
engine_libsop_la_SOURCES = $(ENGINE_SOURCES)
engine_libsop_la_CPPFLAGS = $(SOP_CPPFLAGS) -DSOP_BUILDING
engine_libsop_la_CFLAGS = $(AM_CFLAGS) $(UUID_CFLAGS) $(ZLIB_CFLAGS) $(HIREDIS_CFLAGS) -fvisibility=hidden
engine_libsop_la_LIBADD = $(UUID_LIBS) $(ZLIB_LIBS) $(HIREDIS_LIBS) -lm
engine_libsop_la_LDFLAGS = -version-info 0:0:0

include_HEADERS += engine/sop.h
pkgconfig_DATA += engine/sop.pc
