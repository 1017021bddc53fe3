-- The serving schema (what dashboards read) and the loader's bookkeeping in pipeline.
create schema if not exists serving;
create schema if not exists pipeline;

-- One row per load of one serving table: 'succeeded' rows are written in the publish transaction (at most one
-- per gold table id and version); 'failed' rows afterwards, best effort, with the error.
create table pipeline.load_audit (
    load_id bigint generated always as identity primary key,
    table_name text not null,
    delta_table_id text,
    delta_version bigint check (delta_version >= 0),
    mode text check (mode in ('full', 'incremental')),
    rows_inserted bigint not null default 0 check (rows_inserted >= 0),
    rows_updated bigint not null default 0 check (rows_updated >= 0),
    rows_deleted bigint not null default 0 check (rows_deleted >= 0),
    started_at timestamptz not null,
    finished_at timestamptz not null,
    status text not null check (status in ('succeeded', 'failed')),
    error text,
    check (finished_at >= started_at),
    check ((status = 'failed') = (error is not null)),
    check (status = 'failed' or (delta_table_id is not null and delta_version is not null and mode is not null))
);

create unique index load_audit_one_success_per_version
    on pipeline.load_audit (table_name, delta_table_id, delta_version)
    where status = 'succeeded';

create index load_audit_latest on pipeline.load_audit (table_name, finished_at desc);
