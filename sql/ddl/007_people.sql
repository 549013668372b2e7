-- The person behind each event, one definition for every report: the event's
-- externalId; else the externalId its email carries on any event or identify record;
-- else the email (trimmed, lower case); else the one person identified in the same
-- session (by an event or an identify record), so anonymous page views before a sign-up
-- join that person's journey. A session in which two different people identified (a
-- shared device) is ambiguous and links nobody. Else null.
create or replace view event_people as
with email_links as (
    select email, min(external_id) as external_id
    from (
        select lower(trim(email)) as email, external_id
        from events
        where external_id is not null and email is not null
        union all
        select lower(trim(value)), user_id
        from identities
        where trait = 'email' and user_id is not null and value is not null
    )
    group by all
),

identified as (
    select e.session_id,
        coalesce(e.external_id, l.external_id, lower(trim(e.email))) as person
    from events e left join email_links l on l.email = lower(trim(e.email))
    where e.session_id is not null and (e.external_id is not null or e.email is not null)
    union all
    select session_id, user_id
    from identities
    where session_id is not null and user_id is not null
),

session_people as (
    select session_id, min(person) as person
    from identified
    group by all
    having count(distinct person) = 1
)

select e.event_id,
    coalesce(e.external_id, l.external_id, lower(trim(e.email)), s.person) as person
from events e
left join email_links l on l.email = lower(trim(e.email))
left join session_people s on s.session_id = e.session_id;
