#!/usr/bin/env bash
# The zcat | jq peer with 2 processes, the same Cognito rules as trailsift.
# Usage: jq_peer.sh FILELIST      Prints: auth=N deletions=M (distinct eventIDs).
set -euo pipefail
FILTER='.Records[]
  | select(.eventSource == "cognito-idp.amazonaws.com")
  | select(.eventName | IN("InitiateAuth","AdminInitiateAuth","RespondToAuthChallenge",
      "AdminRespondToAuthChallenge","Login_POST","Token_POST","SAML2Response_POST","DeleteUser","AdminDeleteUser"))
  | [(if (.eventName == "DeleteUser" or .eventName == "AdminDeleteUser") then "D" else "A" end), .eventID]
  | @tsv'
export FILTER
xargs -P2 -n 64 sh -c 'zcat "$@" | jq --unbuffered -r "$FILTER"' _ < "$1" | sort -u \
  | awk -F'\t' '$1=="A"{a++} $1=="D"{d++} END{printf "auth=%d deletions=%d\n", a, d}'
