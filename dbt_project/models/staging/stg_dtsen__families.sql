-- DTSEN families of the snapshot, KK pseudonymised.
with source as (
    select * from {{ source('dtsen', 'family') }} where snapshot = {{ snapshot_month() }}
),

renamed as (
    select
        snapshot,
        family_id,
        head_person_id,
        members,
        pseudonym(no_kk) as no_kk_pseudo,
        village_code,
        district_code,
        regency_code,
        province_code
    from source
)

select * from renamed
