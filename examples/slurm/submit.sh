#!/bin/bash
# Analyse MODEL in SHARES tasks of a job array, then merge them in a dependent job.
#   ./submit.sh /models/llama-70b 8 [weightscope options...]
set -euo pipefail
MODEL=${1:?usage: submit.sh MODEL SHARES [weightscope options...]}
SHARES=${2:?usage: submit.sh MODEL SHARES [weightscope options...]}
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
PARTS=parts

ARRAY_JOB_ID=$(sbatch --parsable --array=0-$((SHARES - 1)) \
    "$HERE/analyze-shard.sbatch" "$MODEL" "$PARTS" "$@")
# --parsable prints "jobid" or "jobid;cluster": keep the id.
ARRAY_JOB_ID=${ARRAY_JOB_ID%%;*}
MERGE_JOB_ID=$(sbatch --parsable --dependency=afterok:"$ARRAY_JOB_ID" \
    "$HERE/merge.sbatch" "$PARTS" details)
echo "array job $ARRAY_JOB_ID ($SHARES shares), merge job ${MERGE_JOB_ID%%;*}"
