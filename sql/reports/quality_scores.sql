-- Events per whole quality score (0-10) and funnel stage.
select floor(q.score)::integer as score, q.stage, count(*)::bigint as events
from event_quality q join events e using (event_id)
where ($from_s is null or e.ts >= to_timestamp($from_s))
    and ($to_s is null or e.ts < to_timestamp($to_s))
group by all
order by score, stage
