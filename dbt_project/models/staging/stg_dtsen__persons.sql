-- DTSEN persons of the snapshot, identifiers pseudonymised (raw NIK/KK never leave the restricted schema).
with source as (
    select * from {{ source('dtsen', 'person') }} where snapshot = {{ snapshot_month() }}
),

-- a family's members share one KK: its pseudonym is computed once per distinct KK (315 k, not 970 k, at 1 M persons)
kk as (
    select no_kk, pseudonym(no_kk) as no_kk_pseudo
    from (select distinct no_kk from source where no_kk is not null)
),

renamed as (
    select
        snapshot,
        person_id,
        family_id,
        pseudonym(nik) as nik_pseudo,
        kk.no_kk_pseudo,
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
    left join kk using (no_kk)
)

select * from renamed
