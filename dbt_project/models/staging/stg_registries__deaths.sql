-- Every death reported up to the snapshot month (events accumulate over deliveries).
with source as (
    select * from {{ source('registries', 'death') }} where delivery <= {{ snapshot_month() }}
),

renamed as (
    select
        pseudonym(nik) as nik_pseudo,
        min(death_date) as death_date,
        min(delivery) as first_reported_in
    from source
    group by nik
)

select * from renamed
