-- secmaster: one schema per service, a migrator role that owns it (runs Alembic) and an
-- app role that may only read and write rows in it. Idempotent: safe to run again.
-- Passwords are not set here (no secret in a commit): deploy/postgres/20-passwords.sh
-- sets them from the environment when the server needs them.

DO $$
DECLARE
    svc text;
BEGIN
    FOREACH svc IN ARRAY ARRAY['ingestion', 'enrichment', 'pricing', 'indexer'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = svc || '_migrator') THEN
            EXECUTE format('CREATE ROLE %I LOGIN', svc || '_migrator');
        END IF;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = svc || '_app') THEN
            EXECUTE format('CREATE ROLE %I LOGIN', svc || '_app');
        END IF;
        EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', svc, svc || '_migrator');
        EXECUTE format('ALTER SCHEMA %I OWNER TO %I', svc, svc || '_migrator');
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', svc, svc || '_app');
        EXECUTE format(
            'ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I '
            'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I',
            svc || '_migrator', svc, svc || '_app');
        EXECUTE format(
            'ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO %I',
            svc || '_migrator', svc, svc || '_app');
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I',
            svc, svc || '_app');
        EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', svc, svc || '_app');
        -- The app role gets nothing on any other service's schema, and nobody but the
        -- owner may create objects in the public schema.
    END LOOP;
    EXECUTE 'REVOKE CREATE ON SCHEMA public FROM PUBLIC';
END
$$;
