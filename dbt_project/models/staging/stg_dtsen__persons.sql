-- DTSEN persons of the snapshot, identifiers pseudonymised (raw NIK/KK never leave the restricted schema).
with source as (
    select * from {{ source('dtsen', 'person') }} where snapshot = {{ snapshot_month() }}
),

renamed as (
    select
        snapshot,
        person_id,
        family_id,
        pseudonym(nik) as nik_pseudo,
        pseudonym(no_kk) as no_kk_pseudo,
        nik is not null as has_valid_nik,
        sex,
        birth_date,
        relationship,
        education,
        work,
        working,
        disability,
        pregnant,
        school_level,
        kks,
        bank,
        desil_p3ke,
        village_code,
        district_code,
        regency_code,
        province_code,
        n_sources
    from source
)

select * from renamed
