-- The send history, the delivery reports, the breaker transitions and the probe results:
-- the schema of migrations/sqlite, in PostgreSQL's words (no trigram table: a search scans the
-- normalised columns). Times are microseconds since the Unix epoch (UTC); `day` is the UTC date
-- (YYYY-MM-DD) of a send's start. Costs are whole nano-dollars, so sums are exact.
CREATE TABLE sends (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at BIGINT NOT NULL,
    day TEXT NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    -- The recipient as searches compare it: lower case, no spaces, dashes or parentheses.
    recipient_normalised TEXT NOT NULL,
    -- NULL: failed.
    delivered_by TEXT,
    -- The provider first in chain order that a delivered send had to pass over.
    failed_over_from TEXT,
    -- 0 failed, 1 delivered by the first provider able to take it, 2 failed over.
    outcome_class BIGINT NOT NULL,
    -- One bit per provider tried (an attempt or a skip), from the attempts below.
    tried BIGINT NOT NULL,
    origin_kind TEXT NOT NULL,
    origin_host TEXT,
    origin_pid BIGINT,
    cost_nano BIGINT NOT NULL,
    -- The whole RecordedSend, as JSON: what queries return.
    record TEXT NOT NULL
);
-- The filters' columns in both: a page read newest first, and a count (or a selective page)
-- read from the matching entries alone, neither touching the rows but for the page's records
-- (a recipient too short for the trigrams is compared in the index too).
CREATE INDEX sends_newest ON sends
    (started_at, channel, origin_kind, outcome_class, tried, recipient_normalised);
CREATE INDEX sends_filter ON sends
    (channel, origin_kind, outcome_class, tried, started_at, recipient_normalised);
CREATE INDEX sends_day ON sends (day, started_at);
CREATE INDEX sends_failed_over ON sends (failed_over_from, started_at)
    WHERE failed_over_from IS NOT NULL;

-- Each send's attempts (skipped = 0: a call, outcome delivered or failed) and the providers
-- it passed over (skipped = 1, outcome the skip reason), in chain order.
CREATE TABLE attempts (
    send_id BIGINT NOT NULL REFERENCES sends (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    provider TEXT NOT NULL,
    skipped BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    provider_message_id TEXT,
    receipt_normalised TEXT,
    cost_nano BIGINT NOT NULL,
    PRIMARY KEY (send_id, seq)
);
CREATE INDEX attempts_receipt ON attempts (provider, provider_message_id)
    WHERE provider_message_id IS NOT NULL;


-- Totals per day kept as sends are written, so that a summary reads a few hundred rows.
CREATE TABLE daily_sends (
    day TEXT PRIMARY KEY,
    sends BIGINT NOT NULL,
    delivered BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    failed_over BIGINT NOT NULL
);
CREATE TABLE daily_provider (
    day TEXT NOT NULL,
    provider TEXT NOT NULL,
    cost_nano BIGINT NOT NULL,
    delivered BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    PRIMARY KEY (day, provider)
);
CREATE TABLE daily_routes (
    day TEXT NOT NULL,
    from_provider TEXT NOT NULL,
    to_provider TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (day, from_provider, to_provider)
);

-- Delivery reports; one per provider and event id (a provider's retry is the same report).
CREATE TABLE deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    event TEXT NOT NULL,
    UNIQUE (provider, event_id)
);
CREATE INDEX deliveries_message ON deliveries (provider, provider_message_id);
CREATE INDEX deliveries_received ON deliveries (received_at);

-- Each provider's state as one msgops process saw it: a breaker transition, the provider
-- switched on or off, or what it was when the process started. `breaker` and `enabled` are the
-- state after the row.
CREATE TABLE provider_states (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    provider TEXT NOT NULL,
    channel TEXT NOT NULL,
    origin_kind TEXT NOT NULL,
    origin_host TEXT,
    origin_pid BIGINT,
    kind TEXT NOT NULL,
    breaker_from TEXT,
    breaker TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX provider_states_at ON provider_states (at);
CREATE INDEX provider_states_provider ON provider_states (provider, at);

CREATE TABLE probes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    provider TEXT NOT NULL,
    channel TEXT NOT NULL,
    origin_kind TEXT NOT NULL,
    origin_host TEXT,
    origin_pid BIGINT,
    ok BIGINT NOT NULL,
    error_kind TEXT,
    message TEXT
);
CREATE INDEX probes_at ON probes (at);

-- The JSON-lines files of earlier versions imported, each once.
CREATE TABLE imports (
    source TEXT PRIMARY KEY,
    imported_at BIGINT NOT NULL,
    records BIGINT NOT NULL,
    skipped BIGINT NOT NULL
);
