-- RESTRICTED: raw identity of each family's payee for the disbursement step only. Never published to analysts.
-- The payee is the family head; when the head has died, the spouse, else the oldest living adult member.
-- Routing inputs ride along: account (KKS/bank, any member's), province bank, age, disability, remote village.
with persons as (
    select * from {{ source('dtsen', 'person') }} where snapshot = {{ snapshot_month() }}
),

aged as (
    select person_id, age, is_deceased from {{ ref('int_persons__aged') }}
),

families as (
    select * from {{ source('dtsen', 'family') }} where snapshot = {{ snapshot_month() }}
),

payee as (
    select
        p.family_id,
        -- every tie broken by the person id: the same snapshot always names the same payee and bank
        first(p.person_id order by case when p.person_id = f.head_person_id then 0
                                        when p.relationship = 2 then 1 else 2 end, a.age desc nulls last,
                                   p.person_id) as payee_person_id,
        bool_or(coalesce(p.kks, 0) = 1) as has_kks,
        first(p.bank order by coalesce(p.kks, 0) desc, p.bank is null, p.person_id) as account_bank
    from persons p
    join aged a using (person_id)
    join families f using (family_id)
    where not a.is_deceased and (a.age >= 17 or p.person_id = f.head_person_id)
    group by p.family_id
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
    y.payee_person_id,
    y.payee_person_id = f.head_person_id as payee_is_head,
    h.nik as payee_nik,
    f.no_kk,
    h.name as payee_name,
    h.address,
    h.rt,
    h.rw,
    f.village_code,
    f.province_code,
    a.age as payee_age,
    coalesce(h.disability, 0) = 1 as payee_severely_disabled,
    y.has_kks,
    y.account_bank,
    b.bank as province_bank,
    coalesce(r.is_remote, false) as remote_village
from families f
join payee y using (family_id)
join persons h on h.person_id = y.payee_person_id
join aged a on a.person_id = y.payee_person_id
left join {{ ref('province_bank') }} b on b.province_code = f.province_code
left join remote_villages r on r.village_code = f.village_code
