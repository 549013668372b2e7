-- Per ad platform and event name (events routed to ads by default): how many events
-- carry none of the identifiers that platform matches on.
with keys as (
    select key_pattern, k.key as destination, json_array_length(k.value) = 0 as no_keys
    from match_key_patterns, json_each(to_json(match_keys)) k
)

select k.destination, q.event_name, count(*)::bigint as events,
    count(*) filter (where k.no_keys)::bigint as without_match_keys,
    round(avg(k.no_keys::int), 4) as share_without_match_keys
from event_quality q
join events e using (event_id)
join canonical_events c on c.event_name = q.event_name
join keys k using (key_pattern)
where c.routes_ads
    and ($from_s is null or e.ts >= to_timestamp($from_s))
    and ($to_s is null or e.ts < to_timestamp($to_s))
group by all
order by k.destination, q.event_name
