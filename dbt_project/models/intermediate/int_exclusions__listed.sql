-- Every exclusion with its reason (DOMAIN rule 3). Person rows exclude the person; family rows exclude the whole
-- family from every program. A civil servant or a wage earner above the provincial minimum excludes their family.
-- An objection (sanggahan) approved by a caseworker and a supervisor excludes the person named when they died, and
-- their family otherwise, from the month it was delivered on; case_number names the case (null for other reasons).
with persons as (
    select * from {{ ref('int_persons__aged') }}
),

families as (
    select * from {{ ref('stg_dtsen__families') }}
),

civil_servants as (
    select * from {{ ref('stg_registries__civil_servants') }}
),

wages as (
    select w.*, m.monthly_minimum_wage
    from {{ ref('stg_registries__wages') }} w
    left join {{ ref('provincial_minimum_wage') }} m on m.province_code = w.work_province_code
),

objections as (
    select o.*, p.family_id
    from {{ ref('stg_registries__objections') }} o
    join persons p using (person_id)
),

person_rows as (
    select 'person' as unit, person_id, family_id, 'deceased' as reason,
           'Dukcapil death on ' || cast(death_date as varchar) as detail, cast(null as varchar) as case_number
    from persons where is_deceased
    union all
    select 'person', p.person_id, p.family_id, 'civil_servant', 'on the ASN list of ' || c.delivery, null
    from persons p join civil_servants c on c.nik_pseudo = p.nik_pseudo
    union all
    select 'person', p.person_id, p.family_id, 'wage_above_minimum',
           'BPJSTK wage ' || cast(w.monthly_wage as varchar) || ' > provincial minimum '
           || cast(w.monthly_minimum_wage as varchar) || ' (province ' || w.work_province_code || ')', null
    from persons p join wages w on w.nik_pseudo = p.nik_pseudo
    where w.monthly_wage > w.monthly_minimum_wage
    union all
    select 'person', person_id, family_id, 'objection_deceased', objection_detail, no_tiket
    from objections where reason = 'meninggal'
),

family_rows as (
    select distinct 'family' as unit, cast(null as varchar) as person_id, family_id,
           'member_' || reason as reason, 'a member is excluded: ' || reason as detail,
           cast(null as varchar) as case_number
    from person_rows where reason in ('civil_servant', 'wage_above_minimum')
    union all
    select 'family', null, family_id, 'objection_' || objection_reason, objection_detail, no_tiket
    from objections where reason <> 'meninggal'
    union all
    select 'family', null, family_id, 'all_members_deceased', 'every member of the family has died', null
    from persons group by family_id having bool_and(is_deceased)
    union all
    -- nobody to pay: no living adult (17+) and no living head (the payee rule of restricted.payee_identity)
    select 'family', null, p.family_id, 'no_living_adult_payee',
           'no living adult member to receive payments: held until a guardian is registered', null
    from persons p join families f using (family_id)
    group by p.family_id
    having not bool_or(not p.is_deceased and (coalesce(p.age >= 17, false) or p.person_id = f.head_person_id))
       and not bool_and(p.is_deceased)
    union all
    -- two DTSEN families on one KK number: the larger (then the smaller id) stays, the other is a duplicate
    select 'family', null, family_id, 'duplicate_family', 'shares its KK with family ' || keeper, null
    from (
        select family_id,
               first_value(family_id) over (partition by no_kk_pseudo order by members desc, family_id) as keeper
        from families where no_kk_pseudo is not null
    ) where family_id <> keeper
)

select * from person_rows
union all
select * from family_rows
