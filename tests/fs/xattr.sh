#!/bin/sh
# xattr.sh - store options as extended attributes of a store's directory:
# read them, change them while the store is empty, EBUSY once it holds
# records, EINVAL for bad values, read-only user.sop.count; checked again
# after remount.
. "$(dirname "$0")/lib.sh"

command -v setfattr >/dev/null && command -v getfattr >/dev/null || skip_all "no attr tools"

get() { # get NAME PATH: the value alone
    t getfattr --only-values -n "$1" "$2"
}

check "mount" mount_fs
check "mkdir a store" t mkdir "$MNT/s"
same "listxattr names every option" \
    "user.sop.chunk_size user.sop.count user.sop.description user.sop.kind user.sop.relations user.sop.slot_length user.sop.unique user.sop.value_in_node" \
    sh -c "getfattr -d -m - --absolute-names '$MNT/s' | sed -n 's/=.*//p' | sort | tr '\n' ' ' | sed 's/ \$//'"
same "default slot_length" 1000 get user.sop.slot_length "$MNT/s"
same "default unique" 1 get user.sop.unique "$MNT/s"
same "default value_in_node" 1 get user.sop.value_in_node "$MNT/s"
same "default chunk_size" 1048576 get user.sop.chunk_size "$MNT/s"
same "default kind" records get user.sop.kind "$MNT/s"
check "set slot_length on an empty store" t setfattr -n user.sop.slot_length -v 64 "$MNT/s"
check "set chunk_size with a suffix" t setfattr -n user.sop.chunk_size -v 64k "$MNT/s"
check "set value_in_node false" t setfattr -n user.sop.value_in_node -v false "$MNT/s"
check "set kind" t setfattr -n user.sop.kind -v search "$MNT/s"
check "set description" t setfattr -n user.sop.description -v "the users, one per file" "$MNT/s"
check "set relations (JSON)" t setfattr -n user.sop.relations -v '{"owner": {"store": "users", "field": "id"}}' "$MNT/s"
check "slot_length out of range: EINVAL" sh -c "setfattr -n user.sop.slot_length -v 2 '$MNT/s' 2>&1 | grep -q 'Invalid argument'"
check "bad kind: EINVAL" sh -c "setfattr -n user.sop.kind -v bogus '$MNT/s' 2>&1 | grep -q 'Invalid argument'"
check "bad JSON: EINVAL" sh -c "setfattr -n user.sop.relations -v '{bad' '$MNT/s' 2>&1 | grep -q 'Invalid argument'"
check "bad number: EINVAL" sh -c "setfattr -n user.sop.chunk_size -v lots '$MNT/s' 2>&1 | grep -q 'Invalid argument'"
check "user.sop.count is read-only" sh -c "setfattr -n user.sop.count -v 9 '$MNT/s' 2>&1 | grep -q 'not permitted'"
check "files hold no xattrs" sh -c "touch '$MNT/s/f' && setfattr -n user.x -v 1 '$MNT/s/f' 2>&1 | grep -q 'not supported'"
t sh -c "echo 1 > '$MNT/s/g'"
same "count counts records" 2 get user.sop.count "$MNT/s"
check "slot_length once records exist: EBUSY" sh -c "setfattr -n user.sop.slot_length -v 128 '$MNT/s' 2>&1 | grep -q 'busy'"
check "unique once records exist: EBUSY" sh -c "setfattr -n user.sop.unique -v 0 '$MNT/s' 2>&1 | grep -q 'busy'"
check "description changes any time" t setfattr -n user.sop.description -v "changed" "$MNT/s"
check "a big file in a 64 KiB-chunk store" sh -c "head -c 300000 /dev/urandom > '$T/f' && cp '$T/f' '$MNT/s/big' && cmp '$T/f' '$MNT/s/big'"

verify() {
    w=$1
    same "$w: slot_length" 64 get user.sop.slot_length "$MNT/s"
    same "$w: chunk_size" 65536 get user.sop.chunk_size "$MNT/s"
    same "$w: value_in_node" 0 get user.sop.value_in_node "$MNT/s"
    same "$w: kind" search get user.sop.kind "$MNT/s"
    same "$w: description" changed get user.sop.description "$MNT/s"
    same "$w: relations" '{"owner": {"store": "users", "field": "id"}}' get user.sop.relations "$MNT/s"
    same "$w: count" 3 get user.sop.count "$MNT/s"
    check "$w: big file" t cmp "$T/f" "$MNT/s/big"
}
verify live
check "unmount and mount again" remount_fs
verify remounted
check "clean unmount" umount_fs
finish
