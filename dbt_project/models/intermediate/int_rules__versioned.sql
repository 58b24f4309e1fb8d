-- One row: the rule version = a hash of every rule seed's content, so any edit to a seed changes it and every
-- mart row says which rules it was built with.
with rows as (
    select 'program_parameters' as seed, cast(p as varchar) as row_text from {{ ref('program_parameters') }} p
    union all select 'benefit_components', cast(b as varchar) from {{ ref('benefit_components') }} b
    union all select 'program_quota', cast(q as varchar) from {{ ref('program_quota') }} q
    union all select 'province_bank', cast(k as varchar) from {{ ref('province_bank') }} k
    union all select 'provincial_minimum_wage', cast(w as varchar) from {{ ref('provincial_minimum_wage') }} w
    union all select 'channel_rules', cast(c as varchar) from {{ ref('channel_rules') }} c
)

select
    'rules-' || substr(md5(string_agg(seed || ':' || row_text, '|' order by seed, row_text)), 1, 12) as rule_version,
    {{ snapshot_month() }} as snapshot,
    {% if var('quota_scale', '') %}
    cast({{ var('quota_scale') }} as double)
    {% else %}
    (select count(*) from {{ ref('stg_dtsen__persons') }}) / cast({{ var('national_population') }} as double)
    {% endif %} as quota_scale
from rows
