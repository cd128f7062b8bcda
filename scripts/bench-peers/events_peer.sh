#!/usr/bin/env bash
# The zcat | jq peer of `trailsift events`, 2 processes: distinct eventIDs of the records a
# query selects. Usage: events_peer.sh FILELIST QUERY   (QUERY: cognito | regex | all)
# Prints: events=N
set -euo pipefail
case "$2" in
    cognito) FILTER='.Records[] | select(.eventSource == "cognito-idp.amazonaws.com") | .eventID' ;;
    regex) FILTER='.Records[] | select(.eventName | test("^(Delete|Put)")) | .eventID' ;;
    all) FILTER='.Records[] | .eventID' ;;
    *) echo "unknown query $2" >&2; exit 2 ;;
esac
export FILTER
xargs -P2 -n 64 sh -c 'zcat "$@" | jq --unbuffered -r "$FILTER"' _ < "$1" | sort -u \
  | awk 'END{printf "events=%d\n", NR}'
