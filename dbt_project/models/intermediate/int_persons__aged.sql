-- Persons of the snapshot with their age on the first day of the snapshot month and whether they have died.
with persons as (
    select * from {{ ref('stg_dtsen__persons') }}
),

deaths as (
    select * from {{ ref('stg_registries__deaths') }}
)

select
    p.*,
    {{ age_on('p.birth_date', reference_date()) }} as age,
    d.death_date,
    d.death_date is not null
        and d.death_date < {{ reference_date() }} + interval 1 month as is_deceased
from persons p
left join deaths d on d.nik_pseudo = p.nik_pseudo and p.nik_pseudo is not null
