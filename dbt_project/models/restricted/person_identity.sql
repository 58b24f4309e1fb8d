-- RESTRICTED: raw identity of each person (insured persons for PBI premiums, pupils for PIP), for the
-- disbursement step only. Never published to analysts.
-- A view of the built month (pinned as a literal when it runs) over dtsen.person: copying 1 M persons' identity
-- into a table cost 0.7 s a month for a handful of lookups.
{{ config(materialized='view') }}

select
    p.snapshot,
    p.person_id,
    p.family_id,
    p.nik,
    p.name,
    p.birth_date
from {{ source('dtsen', 'person') }} p
where p.snapshot = {{ snapshot_literal() }}
