#!/bin/sh
# The example deploy script of webhookd.toml.example. webhookd runs it
# without a shell of its own, with the pushed commit as $1, the raw
# delivery on stdin and in $WEBHOOKD_PAYLOAD_FILE, and these variables:
# WEBHOOKD_EVENT_ID, WEBHOOKD_HOOK, WEBHOOKD_EVENT, WEBHOOKD_DELIVERY,
# WEBHOOKD_ATTEMPT, and REPO from the action's env.
#
# Replace the body with your deploy: git pull, build, restart. Exit 0 on
# success; any other status is a failure that webhookd retries.
set -eu
commit="${1:-unknown}"
echo "deploying ${REPO:-?} at ${commit} (event ${WEBHOOKD_EVENT_ID}, attempt ${WEBHOOKD_ATTEMPT})"
# For example:
#   cd /srv/site && git fetch --quiet origin && git checkout --quiet "$commit" && make install
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) ${REPO:-?} ${commit}" >> deploys.log
echo "done"
