-- The built month's rows of history.exclusions_history, where its rules live: a view, so each month's rows
-- are written once.
-- Pinned to the month built (a literal): a later build that fails halfway leaves this view on the month it showed.
{{ config(materialized='view') }}

select * from {{ ref('exclusions_history') }} where snapshot = {{ snapshot_literal() }}
