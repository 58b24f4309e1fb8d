with source as (
    select * from {{ source('welfare', 'targeting_evaluation') }} where snapshot = {{ snapshot_month() }}
),

renamed as (
    select
        snapshot,
        scope,
        province_code,
        method,
        families,
        poor_families,
        ranked_bottom40,
        exclusion_error,
        inclusion_error
    from source
)

select * from renamed
