-- Every built snapshot's decisions per family and program (appeal_explanation), kept month after month: a build of
-- one month replaces that month's rows only.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='snapshot',
          on_schema_change='append_new_columns') }}

select * from {{ ref('appeal_explanation') }}
