#!/bin/sh
# The main job, on a fresh Debian 12 machine as root: install what is
# missing, build, and show sop at work on a demo database.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
demo=${SOP_DEMO_DIR:-/tmp/sop-demo}
rm -rf "$demo"
echo "== the cookbook quickstart in C: 100,000 user profiles, a commit every 1,000"
./tools/sop demo "$demo/db"
echo "== stores in the database"
./tools/sop stores "$demo/db"
./tools/sop info "$demo/db" users
echo "== a record written and read back through the command line"
echo "hello from sop" | ./tools/sop put "$demo/db" users greeting
./tools/sop get "$demo/db" users greeting
