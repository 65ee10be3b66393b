"""Who triaged a finding: `By` on `finding_triage`, the name given with the acknowledgement or mute
(else the channel, `web page` or `api`), shown beside the state in the findings API and page."""

from __future__ import annotations

VERSION = 42

STATEMENTS = [
    "ALTER TABLE finding_triage ADD COLUMN IF NOT EXISTS By String AFTER Note",
]
