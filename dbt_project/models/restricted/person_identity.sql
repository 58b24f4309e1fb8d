-- RESTRICTED: raw identity of each person (insured persons for PBI premiums, pupils for PIP), for the
-- disbursement step only. Never published to analysts.
select
    p.snapshot,
    p.person_id,
    p.family_id,
    p.nik,
    p.name,
    p.birth_date
from {{ source('dtsen', 'person') }} p
where p.snapshot = {{ snapshot_month() }}
