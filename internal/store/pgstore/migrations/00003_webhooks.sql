-- Webhooks (store.Webhooks): the endpoints, the outbox of deliveries,
-- durable timers (remindAfterMs, validity windows) and receipt tracks.
-- Several nodes share these tables: a claim sets lease_until on the rows
-- it takes (FOR UPDATE SKIP LOCKED), so each row goes to one node, and a
-- node that dies leaves its rows to another when the lease runs out.
-- Nothing exists to carry over: the tables start empty.

-- +goose Up
CREATE TABLE webhooks (
	id           text COLLATE "C" PRIMARY KEY,
	url          text NOT NULL,
	secret       text NOT NULL,
	events       text[] NOT NULL DEFAULT '{}',
	thresholds   integer[] NOT NULL DEFAULT '{}',
	group_types  text[] NOT NULL DEFAULT '{}',
	all_messages boolean NOT NULL DEFAULT false,
	created_at   bigint NOT NULL DEFAULT 0
);

CREATE TABLE webhook_deliveries (
	endpoint    text COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	event_id    text COLLATE "C" NOT NULL,
	type        text NOT NULL,
	-- the request body, signed as is: bytes, not jsonb (which would
	-- normalise it); NULL for none
	payload     bytea,
	state       text NOT NULL,
	attempts    integer NOT NULL DEFAULT 0,
	next_at     bigint NOT NULL,
	lease_until bigint NOT NULL DEFAULT 0,
	last_error  text NOT NULL DEFAULT '',
	created_at  bigint NOT NULL DEFAULT 0,
	updated_at  bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (endpoint, event_id)
);

-- What a claim looks for: pending rows by due time. Delivered and dead
-- rows, which pile up, stay out of it.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at) WHERE state = 'pending';

-- What the admin API lists (failed and dead deliveries of an endpoint),
-- without walking the delivered rows of the endpoint's whole history.
CREATE INDEX webhook_deliveries_undelivered ON webhook_deliveries (endpoint, event_id) WHERE state <> 'delivered';
-- PruneDeliveries: delivered rows by age, so a prune reads what it deletes.
CREATE INDEX webhook_deliveries_delivered ON webhook_deliveries (updated_at) WHERE state = 'delivered';

CREATE TABLE webhook_timers (
	conv        text COLLATE "C" NOT NULL,
	seq         bigint NOT NULL,
	kind        text NOT NULL,
	due_at      bigint NOT NULL,
	lease_until bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (conv, seq, kind)
);

CREATE INDEX webhook_timers_due ON webhook_timers (due_at);

CREATE TABLE webhook_tracks (
	conv        text COLLATE "C" NOT NULL,
	seq         bigint NOT NULL,
	msg_id      text COLLATE "C" NOT NULL DEFAULT '',
	reported    bigint NOT NULL DEFAULT 0,
	reported_at bigint NOT NULL DEFAULT 0,
	-- the thresholds fired, in the order they fired; only ever grows
	fired       text[] NOT NULL DEFAULT '{}',
	PRIMARY KEY (conv, seq)
);

-- +goose Down
DROP TABLE webhook_tracks;
DROP TABLE webhook_timers;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
