#!/usr/bin/env python3
"""bank.py - bank transfers through sopfs mounts (tests/fs/cluster.sh).

  bank.py init FILE ACCOUNTS START CLIENTS   write the ledger
  bank.py run FILE CLIENT N SEED             N transfers as client CLIENT
  bank.py check FILE ACKS...                 the sum, and each client's count
  bank.py check FILE --cut K... -- ACKS...   the same, client K's last transfer
                                             maybe applied (its mount was killed)

The ledger is one file: a line per account ("aNN BALANCE") and a line per
client ("cK DONE", the transfers of client K applied).  A transfer opens it
for reading and writing, reads it, moves an amount between two accounts,
counts itself, writes it back whole and closes: the close is the commit, and
answers EAGAIN when another writer (on this mount or another) committed the
file since this one opened it; then nothing was applied and the client
tries again.  `run` prints the transfers it had acknowledged (closes that
returned 0) and the conflicts it retried; `check` verifies that the sum is
unchanged and that client K's count equals its acknowledged transfers: each
one applied once, none that failed.
"""
import errno
import os
import random
import sys
import time


def parse(text):
    acc, cli = {}, {}
    for line in text.splitlines():
        k, v = line.split()
        (acc if k[0] == "a" else cli)[k] = int(v)
    return acc, cli


def render(acc, cli):
    return "".join("%s %d\n" % (k, acc[k]) for k in sorted(acc)) + "".join(
        "%s %d\n" % (k, cli[k]) for k in sorted(cli))


def init(path, accounts, start, clients):
    acc = {"a%02d" % i: start for i in range(accounts)}
    cli = {"c%d" % i: 0 for i in range(clients)}
    with open(path, "w") as f:
        f.write(render(acc, cli))


def transfer(path, me, rng):
    fd = os.open(path, os.O_RDWR)
    try:
        text = b""
        while True:
            b = os.read(fd, 65536)
            if not b:
                break
            text += b
        acc, cli = parse(text.decode())
        names = sorted(acc)
        a, b = rng.sample(names, 2)
        amount = rng.randint(1, 10)
        acc[a] -= amount
        acc[b] += amount
        cli[me] += 1
        out = render(acc, cli).encode()
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, out)
        os.ftruncate(fd, len(out))
    except BaseException:
        try:
            os.close(fd)
        except OSError:
            pass
        raise
    os.close(fd)  # the commit: EAGAIN on a conflict


def run(path, client, n, seed):
    rng = random.Random(seed)
    me = "c%d" % client
    acked = conflicts = 0
    deadline = time.time() + 600
    while acked < n and time.time() < deadline:
        try:
            transfer(path, me, rng)
            acked += 1
        except OSError as e:
            if e.errno != errno.EAGAIN:
                print("transfer failed: %s" % e, file=sys.stderr)
                break
            conflicts += 1
    print("%d %d" % (acked, conflicts))


def check(path, args):
    cut = set()
    if args and args[0] == "--cut":
        end = args.index("--")
        cut = {int(k) for k in args[1:end]}
        args = args[end + 1:]
    acc, cli = parse(open(path).read())
    total = sum(acc.values())
    want = int(args[0])
    if total != want:
        print("the sum is %d, not %d" % (total, want))
        return 1
    for k, v in enumerate(args[1:]):
        got, v = cli["c%d" % k], int(v)
        # a client whose daemon died may have had its last close committed
        # without hearing so: acknowledged, or one more, never fewer
        if got != v and not (k in cut and got == v + 1):
            print("client %d applied %d transfers, acknowledged %d" % (k, got, v))
            return 1
    print("ok")
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "init":
        init(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "run":
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "check":
        sys.exit(check(sys.argv[2], sys.argv[3:]))
