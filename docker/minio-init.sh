#!/bin/sh
# One-shot MinIO setup, run by the `minio-init` compose service (image: minio/mc).
# Creates the S3_BUCKET bucket if missing and makes sure it has NO anonymous access:
# the app serves media itself through signed URLs, nothing is public.
set -eu

: "${MINIO_ROOT_USER:?MINIO_ROOT_USER is not set}"
: "${MINIO_ROOT_PASSWORD:?MINIO_ROOT_PASSWORD is not set}"
bucket="${S3_BUCKET:-lorastudio}"
endpoint="${MINIO_ENDPOINT:-http://minio:9000}"

tries=0
until mc alias set local "$endpoint" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then
        echo "minio-init: MinIO at $endpoint not reachable, giving up" >&2
        exit 1
    fi
    echo "minio-init: waiting for MinIO at $endpoint ($tries/30)"
    sleep 2
done

mc mb --ignore-existing "local/$bucket"
mc anonymous set none "local/$bucket"
echo "minio-init: bucket '$bucket' ready (private)"
