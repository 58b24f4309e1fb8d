-- The latest BPJS Ketenagakerjaan wage list up to the snapshot month (province = province of work).
with source as (
    select * from {{ source('registries', 'wage') }}
    where delivery = (select max(delivery) from {{ source('registries', 'wage') }} where delivery <= {{ snapshot_month() }})
),

renamed as (
    select
        pseudonym(nik) as nik_pseudo,
        max(monthly_wage) as monthly_wage,
        first(province_code order by monthly_wage desc, province_code) as work_province_code,
        any_value(delivery) as delivery
    from source
    group by nik
)

select * from renamed
