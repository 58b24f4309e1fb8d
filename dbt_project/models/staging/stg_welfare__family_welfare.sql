with source as (
    select * from {{ source('welfare', 'family_welfare') }} where snapshot = {{ snapshot_month() }}
),

renamed as (
    select
        snapshot,
        family_id,
        predicted_pcc,
        predicted_log_pcc,
        desil,
        desil_province,
        proxies_source,
        model_id as pmt_model_id
    from source
)

select * from renamed
