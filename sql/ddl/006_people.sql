-- The person behind each event, one definition for every report: the event's
-- externalId; else the externalId the same email carries on any event; else the email
-- (trimmed, lower case); else the person identified in the same session (so anonymous
-- page views before a sign-up join that person's journey); else null.
create or replace view event_people as
with email_links as (
    select lower(trim(email)) as email, min(external_id) as external_id
    from events
    where external_id is not null and email is not null
    group by all
),

identified as (
    select e.session_id,
        coalesce(e.external_id, l.external_id, lower(trim(e.email))) as person
    from events e left join email_links l on l.email = lower(trim(e.email))
    where e.session_id is not null and (e.external_id is not null or e.email is not null)
),

session_people as (
    select session_id, min(person) as person from identified group by all
)

select e.event_id,
    coalesce(e.external_id, l.external_id, lower(trim(e.email)), s.person) as person
from events e
left join email_links l on l.email = lower(trim(e.email))
left join session_people s on s.session_id = e.session_id;
