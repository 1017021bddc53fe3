-- The gold marts as dashboards read them (grain, keys and rules: docs/data_model.md, Gold marts).
-- Columns and types mirror spark/gold.py: decimal(18,2) -> numeric(18,2), timestamp -> timestamptz.

-- One row per user_id over the user's whole history.
create table serving.dim_users (
    user_id text primary key,
    first_seen_at timestamptz not null,
    last_seen_at timestamptz not null,
    events bigint not null,
    sessions bigint not null,
    purchases bigint not null,
    revenue_gbp numeric(18, 2) not null
);
create index dim_users_last_seen_at on serving.dim_users (last_seen_at);

-- One row per product_id that any event names.
create table serving.dim_products (
    product_id text primary key,
    views bigint not null,
    add_to_carts bigint not null,
    purchases bigint not null,
    units bigint not null,
    revenue_gbp numeric(18, 2) not null
);
create index dim_products_revenue_gbp on serving.dim_products (revenue_gbp desc);

-- One row per event_date (UTC) with at least one purchase; the key is the dashboard's date index.
create table serving.fct_purchases_daily (
    event_date date primary key,
    purchases bigint not null,
    units bigint not null,
    revenue_gbp numeric(18, 2) not null,
    purchasing_users bigint not null
);

-- One row per session day; rates are null when their denominator is 0.
create table serving.fct_funnel_daily (
    event_date date primary key,
    sessions bigint not null,
    sessions_with_view bigint not null,
    sessions_with_add_to_cart bigint not null,
    sessions_with_purchase bigint not null,
    view_to_cart_rate numeric(9, 4),
    cart_to_purchase_rate numeric(9, 4),
    conversion_rate numeric(9, 4)
);

-- One row per session_id; session_date is the UTC date of its first event.
create table serving.fct_sessions (
    session_id text primary key,
    user_id text not null,
    started_at timestamptz not null,
    ended_at timestamptz not null,
    duration_s bigint not null,
    events bigint not null,
    page_views bigint not null,
    add_to_carts bigint not null,
    purchases bigint not null,
    converted boolean not null,
    revenue_gbp numeric(18, 2) not null,
    session_date date not null
);
create index fct_sessions_session_date on serving.fct_sessions (session_date);
create index fct_sessions_user_started on serving.fct_sessions (user_id, started_at);
