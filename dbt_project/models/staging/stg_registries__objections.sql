-- Objections (sanggahan) approved by the caseworker desk and delivered up to the snapshot month: each stays in force
-- from its delivery on. The reason in English for the exclusion it becomes, and a detail naming the case.
with source as (
    select * from {{ source('registries', 'objection') }}
    where delivery <= {{ snapshot_month() }}
),

renamed as (
    select
        no_tiket,
        person_id,
        reason,
        case reason
            when 'meninggal' then 'deceased'
            when 'pindah' then 'moved_away'
            when 'tidak_miskin' then 'not_poor'
            when 'ganda' then 'duplicate'
            when 'asn' then 'civil_servant'
            else 'other'
        end as objection_reason,
        'sanggahan ' || no_tiket || ' (' || reason || ') approved on ' || cast(decided_on as varchar)
            || coalesce(': ' || note, '') as objection_detail,
        decided_on,
        delivery
    from source
    -- one person objected to twice: the first decision stands (later tickets are duplicates of it)
    qualify row_number() over (partition by person_id, reason order by delivery, no_tiket) = 1
)

select * from renamed
