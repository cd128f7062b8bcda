#!/usr/bin/env bash
# Submits one trailsift run to AWS Batch: an array job of SHARDS shards (each reads its
# share of the trail and saves its state to STATE_URL/shard-K/), then a merge job that
# starts when the whole array has succeeded, writes the reports from the SHARDS states
# and uploads them to REPORT_URL.
#
# Register the job definition first (the same definition serves both jobs; the merge job
# overrides its command):
#   aws batch register-job-definition --cli-input-json file://job-definition.json
#
# Needs the AWS CLI and jq here. Run it nightly (cron, EventBridge Scheduler, ...), but
# never while the previous run is still going: two runs of a shard would save over each
# other's state.
set -euo pipefail

JOB_QUEUE="trailsift-fargate"     # placeholder: a Fargate job queue
JOB_DEFINITION="trailsift"        # jobDefinitionName in job-definition.json
SHARDS=16                         # the array size; keep it the same from night to night
TRAIL_URL="s3://my-org-trail/AWSLogs/o-exampleorg/"
STATE_URL="s3://my-state-bucket/trailsift/states"
DAY="$(date -u +%F)"
REPORT_URL="s3://my-report-bucket/trailsift/$DAY"
MERGE_OPTIONS="--xlsx"            # report options for merge, e.g. "--xlsx --tz Asia/Tokyo"

command -v jq >/dev/null || { echo "submit.sh needs jq" >&2; exit 2; }
if [ "$SHARDS" -lt 2 ]; then
  echo "an AWS Batch array job has at least 2 children; for one shard run trailsift alone" >&2
  exit 2
fi

# The shards: SHARDS also becomes the N of --shard auto/N, so the two always agree.
shard_overrides=$(jq -n --arg trail "$TRAIL_URL" --arg state "$STATE_URL" \
  --arg shards "$SHARDS" '{environment: [
    {name: "TRAIL_URL", value: $trail},
    {name: "STATE_URL", value: $state},
    {name: "SHARDS", value: $shards}]}')
ARRAY_ID=$(aws batch submit-job \
  --job-name "trailsift-shards-$DAY" \
  --job-queue "$JOB_QUEUE" \
  --job-definition "$JOB_DEFINITION" \
  --array-properties "size=$SHARDS" \
  --container-overrides "$shard_overrides" \
  --query jobId --output text)
echo "shards: $ARRAY_ID ($SHARDS)"

# The merge, run in the container (sh, not bash). The states are fetched one by one, so a
# missing shard fails the merge instead of leaving its days out. Exit 1 of merge (reports
# written, problems listed in problems.csv) still uploads the reports and succeeds.
# shellcheck disable=SC2016 # expanded in the container, from the environment below
MERGE_SCRIPT='set -eu
rm -rf /tmp/trailsift
set --
k=0
while [ "$k" -lt "$SHARDS" ]; do
  dir="/tmp/trailsift/states/shard-$k"
  mkdir -p "$dir"
  aws s3 cp --recursive --only-show-errors --exclude "*" \
    --include trailsift.db --include trailsift.db-wal "${STATE_URL%/}/shard-$k/" "$dir/"
  if [ ! -f "$dir/trailsift.db" ]; then
    echo "no state at ${STATE_URL%/}/shard-$k/: did shard $k succeed?" >&2
    exit 2
  fi
  set -- "$@" "$dir"
  k=$((k + 1))
done
status=0
# MERGE_OPTIONS is split into words on purpose.
trailsift merge -o /tmp/trailsift/report $MERGE_OPTIONS -q --no-progress "$@" || status=$?
if [ "$status" -gt 1 ]; then exit "$status"; fi
aws s3 cp --recursive --only-show-errors /tmp/trailsift/report/ "${REPORT_URL%/}/"
exit 0'

merge_overrides=$(jq -n --arg script "$MERGE_SCRIPT" --arg state "$STATE_URL" \
  --arg shards "$SHARDS" --arg report "$REPORT_URL" --arg options "$MERGE_OPTIONS" \
  '{command: ["sh", "-c", $script], environment: [
    {name: "STATE_URL", value: $state},
    {name: "SHARDS", value: $shards},
    {name: "REPORT_URL", value: $report},
    {name: "MERGE_OPTIONS", value: $options}]}')
# A dependency on the array job itself (no type N_TO_N): the merge waits for every child.
MERGE_ID=$(aws batch submit-job \
  --job-name "trailsift-merge-$DAY" \
  --job-queue "$JOB_QUEUE" \
  --job-definition "$JOB_DEFINITION" \
  --depends-on "jobId=$ARRAY_ID" \
  --container-overrides "$merge_overrides" \
  --query jobId --output text)
echo "merge:  $MERGE_ID -> $REPORT_URL/"
