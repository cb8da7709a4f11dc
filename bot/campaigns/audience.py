"""Who a campaign reaches: its tag or saved segment as one filter, and live counts."""

from __future__ import annotations

from storage.campaigns import Audience, Campaign, CampaignStore

PAGE = 5000


async def audience_of(store: CampaignStore, campaign: Campaign) -> Audience | None:
    """The campaign's filter: its segment's (None when that segment was deleted), narrowed by its tag."""
    audience = campaign.audience
    if campaign.segment:
        segment = await store.get_segment(campaign.vendor_id, campaign.segment)
        if segment is None:
            return None
        audience = segment.audience
    if campaign.tag:
        audience = audience.model_copy(update={"tags_all": [*audience.tags_all, campaign.tag]})
    return audience


async def count(store: CampaignStore, vendor_id: str, audience: Audience, at: float) -> int:
    """How many of the vendor's contacts an audience holds right now (a segment's live count)."""
    total, after = 0, ""
    while True:
        page = await store.contacts(vendor_id, after=after, limit=PAGE)
        total += sum(1 for c in page if audience.matches(c, at))
        if len(page) < PAGE:
            return total
        after = page[-1].id
