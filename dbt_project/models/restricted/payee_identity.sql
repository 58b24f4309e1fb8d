-- RESTRICTED: raw identity of each family's payee (the head) for the disbursement step only. Never published
-- to analysts. Routing inputs ride along: account (KKS/bank), province bank, age, disability, remote village.
with persons as (
    select * from {{ source('dtsen', 'person') }} where snapshot = {{ snapshot_month() }}
),

families as (
    select * from {{ source('dtsen', 'family') }} where snapshot = {{ snapshot_month() }}
),

remote_villages as (
    select village_code, max(desa_terpencil) = 1 as is_remote
    from {{ source('registries', 'regsosek_family') }}
    where delivery = (select max(delivery) from {{ source('registries', 'regsosek_family') }}
                      where delivery <= {{ snapshot_month() }})
    group by village_code
)

select
    f.snapshot,
    f.family_id,
    f.head_person_id,
    h.nik as head_nik,
    f.no_kk,
    h.name as head_name,
    h.address,
    h.rt,
    h.rw,
    f.village_code,
    f.province_code,
    {{ age_on('h.birth_date', reference_date()) }} as head_age,
    coalesce(h.disability, 0) = 1 as head_severely_disabled,
    coalesce(h.kks, 0) = 1 as has_kks,
    h.bank as account_bank,
    b.bank as province_bank,
    coalesce(r.is_remote, false) as remote_village
from families f
join persons h on h.person_id = f.head_person_id
left join {{ ref('province_bank') }} b on b.province_code = f.province_code
left join remote_villages r on r.village_code = f.village_code
