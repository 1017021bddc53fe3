-- Group roles (NOLOGIN): operators grant them to login users; no login user or password lives in the repo.
-- Roles are cluster-wide, so creating them tolerates their existence (another database may have made them).
do $$
begin
    create role lakehouse_loader nologin;
exception when duplicate_object then null;
end
$$;

do $$
begin
    create role lakehouse_reporting nologin;
exception when duplicate_object then null;
end
$$;

-- Nobody but owners creates objects in this database's schemas (PostgreSQL < 15 let PUBLIC create in public).
revoke create on schema public from public;
revoke all on schema serving from public;
revoke all on schema pipeline from public;

-- The loader writes serving tables and keeps its staging tables and audit rows in pipeline.
grant usage on schema serving to lakehouse_loader;
grant usage, create on schema pipeline to lakehouse_loader;
grant select, insert, update, delete on all tables in schema serving to lakehouse_loader;
grant select on pipeline.schema_migrations to lakehouse_loader;
grant select, insert on pipeline.load_audit to lakehouse_loader;
alter default privileges in schema serving grant select, insert, update, delete on tables to lakehouse_loader;

-- Reporting reads serving, and nothing else: no writes, no CREATE anywhere.
grant usage on schema serving to lakehouse_reporting;
grant select on all tables in schema serving to lakehouse_reporting;
alter default privileges in schema serving grant select on tables to lakehouse_reporting;
