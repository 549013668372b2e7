-- The ad platform of an event's click ID (over events `e`; NULL without one): a
-- person's first-touch channel. Read by trackstack_wh.reports.funnel (into
-- report_events.sql) and trackstack_wh.funnels.attributes.
case
    when coalesce(e.gclid, e.gbraid, e.wbraid) is not null then 'google_ads'
    when coalesce(e.fbclid, e.fbc) is not null then 'meta'
    when e.li_fat_id is not null then 'linkedin'
    when e.ttclid is not null then 'tiktok'
    when e.sc_cid is not null then 'snapchat'
    when e.rdt_cid is not null then 'reddit'
    when e.msclkid is not null then 'microsoft_ads'
    when e.twclid is not null then 'x_ads'
end
