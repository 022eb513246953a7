-- Private reading: each member's own read state beside the shared one
-- (store.OwnRead). A shared read moves both, a private read only own_*.
-- Every existing member has read nothing privately, so its own state is
-- its shared state: the migration copies it.
-- Users' receipt sharing switches live in user_settings; a user without a
-- row has the defaults (both true).

-- +goose Up
ALTER TABLE members
	ADD COLUMN own_read_seq bigint,
	ADD COLUMN own_read_at  bigint NOT NULL DEFAULT 0,
	-- single-message acks above own_read_seq, encoded as acks; NULL when none
	ADD COLUMN own_acks     bytea;
UPDATE members SET own_read_seq = read_seq, own_read_at = read_at, own_acks = acks;
ALTER TABLE members ALTER COLUMN own_read_seq SET NOT NULL;

CREATE TABLE user_settings (
	user_id        text COLLATE "C" PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	share_reads    boolean NOT NULL DEFAULT true,
	share_delivery boolean NOT NULL DEFAULT true
);

-- +goose Down
DROP TABLE user_settings;
ALTER TABLE members DROP COLUMN own_acks, DROP COLUMN own_read_at, DROP COLUMN own_read_seq;
