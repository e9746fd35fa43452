#!/usr/bin/env bash
# Sets the service roles' passwords from the environment (docker-compose's Postgres
# runs this from /docker-entrypoint-initdb.d after 10-schemas-and-roles.sql).
# Variables: INGESTION_APP_PASSWORD, INGESTION_MIGRATOR_PASSWORD, ... (unset: no password).
set -euo pipefail
for svc in ingestion enrichment pricing indexer; do
  for kind in app migrator; do
    var="$(echo "${svc}_${kind}_PASSWORD" | tr '[:lower:]' '[:upper:]')"
    if [ -n "${!var:-}" ]; then
      psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-secmaster}" \
        -v role="${svc}_${kind}" -v pw="${!var}" <<'SQL'
ALTER ROLE :"role" PASSWORD :'pw';
SQL
    fi
  done
done
