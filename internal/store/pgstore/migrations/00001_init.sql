-- The first schema of Seen's PostgreSQL store. Ids are compared and
-- ordered byte-wise (COLLATE "C"), as the embedded store orders its keys,
-- whatever the database's default collation.

-- +goose Up
CREATE TABLE users (
	id         text COLLATE "C" PRIMARY KEY,
	name       text NOT NULL DEFAULT '',
	created_at bigint NOT NULL DEFAULT 0,
	demo       boolean NOT NULL DEFAULT false
);

CREATE TABLE groups (
	id         text COLLATE "C" PRIMARY KEY,
	type       text NOT NULL DEFAULT '',
	created_by text NOT NULL DEFAULT '',
	created_at bigint NOT NULL DEFAULT 0
);

-- One row per conversation that exists: a group's from CreateGroup to
-- DeleteGroup, a peer conversation's from its first message. Its row lock
-- serializes the conversation's appends and membership changes, so seqs
-- and join positions are gap-free and unique across nodes.
CREATE TABLE conversations (
	conv     text COLLATE "C" PRIMARY KEY,
	last_seq bigint NOT NULL DEFAULT 0,
	-- sent_at of the message at last_seq (0: none)
	last_at  bigint NOT NULL DEFAULT 0,
	-- the number of rows in members for conv
	members  bigint NOT NULL DEFAULT 0
);

CREATE TABLE members (
	conv          text COLLATE "C" NOT NULL,
	user_id       text COLLATE "C" NOT NULL,
	role          text NOT NULL DEFAULT '',
	join_seq      bigint NOT NULL,
	read_seq      bigint NOT NULL,
	delivered_seq bigint NOT NULL,
	read_at       bigint NOT NULL DEFAULT 0,
	delivered_at  bigint NOT NULL DEFAULT 0,
	joined_at     bigint NOT NULL DEFAULT 0,
	-- single-message acks above read_seq: 16 bytes each (seq, at as
	-- big-endian int64), sorted by seq; NULL when none
	acks          bytea,
	PRIMARY KEY (conv, user_id)
);

-- A user's conversations, for ConversationsActivity.
CREATE INDEX members_by_user ON members (user_id, conv);

CREATE TABLE messages (
	conv             text COLLATE "C" NOT NULL,
	seq              bigint NOT NULL,
	id               text COLLATE "C" NOT NULL UNIQUE,
	sender           text COLLATE "C" NOT NULL,
	client_msg_id    text COLLATE "C" NOT NULL DEFAULT '',
	-- the body exactly as the client sent it (jsonb would normalise it)
	body             bytea,
	sent_at          bigint NOT NULL,
	receipt          boolean NOT NULL DEFAULT false,
	receipt_at       bigint NOT NULL DEFAULT 0,
	settled          boolean NOT NULL DEFAULT false,
	-- counts frozen when the validity window closed; NULL if not frozen
	frozen_read      bigint,
	frozen_unread    bigint,
	frozen_delivered bigint,
	PRIMARY KEY (conv, seq)
);

-- clientMsgId idempotency: one message per sender and client id in a
-- conversation, on every node.
CREATE UNIQUE INDEX messages_client_id ON messages (conv, sender, client_msg_id) WHERE client_msg_id <> '';

-- Live receipts: asked for and not yet settled.
CREATE INDEX messages_live ON messages (conv, seq) WHERE receipt AND NOT settled;

-- +goose Down
DROP TABLE messages;
DROP TABLE members;
DROP TABLE conversations;
DROP TABLE groups;
DROP TABLE users;
