-- Every built snapshot's exclusions with their reason and evidence, kept month after month.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='snapshot',
          on_schema_change='append_new_columns') }}

select * from {{ ref('exclusions') }}
