-- The latest ASN list up to the snapshot month.
with source as (
    select * from {{ source('registries', 'asn') }}
    where delivery = (select max(delivery) from {{ source('registries', 'asn') }} where delivery <= {{ snapshot_month() }})
),

renamed as (
    select distinct
        pseudonym(nik) as nik_pseudo,
        delivery
    from source
)

select * from renamed
