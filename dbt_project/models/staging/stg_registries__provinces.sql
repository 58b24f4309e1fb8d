-- Province names from the latest region reference.
with source as (
    select * from {{ source('registries', 'region') }}
    where tingkat = 'provinsi' and delivery = (select max(delivery) from {{ source('registries', 'region') }})
),

renamed as (
    select
        kode as province_code,
        nama as province_name
    from source
)

select * from renamed
