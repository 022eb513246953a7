package pgstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/seen-im/seen/internal/store"
)

// Webhooks on PostgreSQL (store.Webhooks). Every node of a cluster shares
// these tables, so a claim must hand each row to one node: it locks the
// rows it takes with FOR UPDATE SKIP LOCKED (a concurrent claim passes
// over them rather than waiting) and sets their lease in the same
// statement, so once it commits no claim takes them before the lease runs
// out, and a node that dies mid-call leaves them to another after that.
// Exactly-once effects (a timer fires once, a threshold fires once) come
// from writes that check the stored state in the same transaction, not
// from the leases.

var _ store.Webhooks = (*Store)(nil)

// CreateWebhook implements store.Webhooks.
func (s *Store) CreateWebhook(ctx context.Context, w store.Webhook) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if w.ID == "" {
		return errors.New("pgstore: create webhook: id is required")
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO webhooks (id, url, secret, events, thresholds, group_types, all_messages, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
		w.ID, w.URL, w.Secret, nonNil(w.Events), nonNil(w.Thresholds), nonNil(w.GroupTypes), w.AllMessages, w.CreatedAt)
	if err != nil {
		return classify("create webhook", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: create webhook %q: %w", w.ID, store.ErrExists)
	}
	return nil
}

// ListWebhooks implements store.Webhooks.
func (s *Store) ListWebhooks(ctx context.Context) ([]store.Webhook, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	rows, err := s.pool.Query(ctx, `SELECT id, url, secret, events, thresholds, group_types, all_messages, created_at
		FROM webhooks ORDER BY id`)
	if err != nil {
		return nil, classify("list webhooks", err)
	}
	ws, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Webhook, error) {
		var (
			w          store.Webhook
			thresholds []int32
		)
		if err := r.Scan(&w.ID, &w.URL, &w.Secret, &w.Events, &thresholds, &w.GroupTypes, &w.AllMessages, &w.CreatedAt); err != nil {
			return store.Webhook{}, err
		}
		for _, t := range thresholds {
			w.Thresholds = append(w.Thresholds, int(t))
		}
		w.Events, w.GroupTypes = nilIfEmpty(w.Events), nilIfEmpty(w.GroupTypes)
		return w, nil
	})
	if err != nil {
		return nil, classify("list webhooks", err)
	}
	return ws, nil
}

// DeleteWebhook implements store.Webhooks. The foreign key deletes the
// endpoint's deliveries with it (ON DELETE CASCADE).
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhooks WHERE id = $1`, id)
	if err != nil {
		return classify("delete webhook", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("delete webhook %q", id)
	}
	return nil
}

// Enqueue implements store.Webhooks, in one statement. Deliveries to an
// endpoint that does not exist (deleted meanwhile) are skipped, as
// DeleteWebhook would have deleted them (enqueueSQL).
func (s *Store) Enqueue(ctx context.Context, ds []store.Delivery) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if len(ds) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, enqueueSQL, enqueueArgs(ds)...); err != nil {
		return classify("enqueue deliveries", err)
	}
	return nil
}

// claimDeliveriesSQL leases up to $3 due deliveries. The rows to take are
// chosen and locked in a MATERIALIZED CTE, evaluated exactly once: as a
// subquery of WHERE ... IN, the planner may run a LIMIT ... SKIP LOCKED
// select more than once (a rescanned nested loop) and update more rows
// than it chose. A row another claim has locked is skipped; one another
// claim leased and committed after this statement began is re-checked
// against the WHERE on its new version (lease_until <= $1 fails), so two
// claims never return the same row.
const claimDeliveriesSQL = `WITH due AS MATERIALIZED (
		SELECT endpoint, event_id FROM webhook_deliveries
		WHERE state = 'pending' AND next_at <= $1 AND lease_until <= $1
		ORDER BY next_at, endpoint, event_id LIMIT $3
		FOR UPDATE SKIP LOCKED)
	UPDATE webhook_deliveries d SET lease_until = $2
	FROM due WHERE d.endpoint = due.endpoint AND d.event_id = due.event_id
	RETURNING ` + "d.endpoint, d.event_id, d.type, d.payload, d.state, d.attempts, d.next_at, d.lease_until, d.last_error, d.created_at, d.updated_at"

// ClaimDeliveries implements store.Webhooks, in one statement.
func (s *Store) ClaimDeliveries(ctx context.Context, now, leaseUntil int64, limit int) ([]store.Delivery, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, claimDeliveriesSQL, now, leaseUntil, limit)
	if err != nil {
		return nil, classify("claim deliveries", err)
	}
	ds, err := collectDeliveries(rows)
	if err != nil {
		return nil, classify("claim deliveries", err)
	}
	// RETURNING has no order of its own.
	slices.SortFunc(ds, func(a, b store.Delivery) int {
		return cmp.Or(cmp.Compare(a.NextAt, b.NextAt), cmp.Compare(a.Endpoint, b.Endpoint), cmp.Compare(a.EventID, b.EventID))
	})
	return ds, nil
}

// FinishDelivery implements store.Webhooks.
func (s *Store) FinishDelivery(ctx context.Context, d store.Delivery) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_deliveries SET state = $3, attempts = $4, next_at = $5,
		last_error = $6, updated_at = $7, lease_until = 0 WHERE endpoint = $1 AND event_id = $2`,
		d.Endpoint, d.EventID, d.State, int32(d.Attempts), d.NextAt, d.LastError, d.UpdatedAt)
	if err != nil {
		return classify("finish delivery", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("finish delivery %s/%s", d.Endpoint, d.EventID)
	}
	return nil
}

// ListDeliveries implements store.Webhooks. A limit below 1 returns
// nothing.
func (s *Store) ListDeliveries(ctx context.Context, endpoint, state, after string, limit int) ([]store.Delivery, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if limit <= 0 {
		return nil, nil
	}
	sql := `SELECT ` + deliveryCols + ` FROM webhook_deliveries
		WHERE endpoint = $1 AND event_id > $2 ORDER BY event_id LIMIT $3`
	args := []any{endpoint, after, limit}
	switch state {
	case "":
	case store.DeliveryDelivered:
		sql = strings.Replace(sql, "event_id > $2", "event_id > $2 AND state = 'delivered'", 1)
	default:
		// Spelled out so that the plan, generic or not, can use the
		// partial index of undelivered rows.
		sql = strings.Replace(sql, "event_id > $2", "event_id > $2 AND state <> 'delivered' AND state = $4", 1)
		args = append(args, state)
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, classify("list deliveries", err)
	}
	ds, err := collectDeliveries(rows)
	if err != nil {
		return nil, classify("list deliveries", err)
	}
	return ds, nil
}

// ReplayDelivery implements store.Webhooks. The lease is released too: a
// replay is the operator's word that the delivery should go now.
func (s *Store) ReplayDelivery(ctx context.Context, endpoint, eventID string, now int64) (store.Delivery, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Delivery{}, err
	}
	defer s.mu.RUnlock()
	d, err := scanDelivery(s.pool.QueryRow(ctx, `UPDATE webhook_deliveries
		SET state = 'pending', attempts = 0, next_at = $3, lease_until = 0, updated_at = $3
		WHERE endpoint = $1 AND event_id = $2 RETURNING `+deliveryCols, endpoint, eventID, now))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Delivery{}, notFound("replay delivery %s/%s", endpoint, eventID)
	}
	if err != nil {
		return store.Delivery{}, classify("replay delivery", err)
	}
	return d, nil
}

// AddTimers implements store.Webhooks, in one statement.
func (s *Store) AddTimers(ctx context.Context, ts []store.Timer) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if len(ts) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, addTimersSQL, addTimersArgs(ts)...); err != nil {
		return classify("add timers", err)
	}
	return nil
}

// claimTimersSQL is claimDeliveriesSQL for timers.
const claimTimersSQL = `WITH due AS MATERIALIZED (
		SELECT conv, seq, kind FROM webhook_timers
		WHERE due_at <= $1 AND lease_until <= $1
		ORDER BY due_at, conv, seq, kind LIMIT $3
		FOR UPDATE SKIP LOCKED)
	UPDATE webhook_timers t SET lease_until = $2
	FROM due WHERE t.conv = due.conv AND t.seq = due.seq AND t.kind = due.kind
	RETURNING t.conv, t.seq, t.kind, t.due_at, t.lease_until`

// ClaimTimers implements store.Webhooks, in one statement.
func (s *Store) ClaimTimers(ctx context.Context, now, leaseUntil int64, limit int) ([]store.Timer, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, claimTimersSQL, now, leaseUntil, limit)
	if err != nil {
		return nil, classify("claim timers", err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Timer, error) { return scanTimer(r) })
	if err != nil {
		return nil, classify("claim timers", err)
	}
	slices.SortFunc(ts, func(a, b store.Timer) int {
		return cmp.Or(cmp.Compare(a.DueAt, b.DueAt), cmp.Compare(a.Conv, b.Conv), cmp.Compare(a.Seq, b.Seq), cmp.Compare(a.Kind, b.Kind))
	})
	return ts, nil
}

// FireTimer implements store.Webhooks: the timer's row is deleted and the
// deliveries enqueued in one transaction, and only the transaction that
// deleted the row enqueues, so of two nodes firing one timer (a lease ran
// out mid-fire) one enqueues and the other changes nothing.
func (s *Store) FireTimer(ctx context.Context, t store.Timer, ds []store.Delivery) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return s.inTx(ctx, "fire timer", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM webhook_timers WHERE conv = $1 AND seq = $2 AND kind = $3`,
			string(t.Conv), int64(t.Seq), t.Kind)
		if err != nil || tag.RowsAffected() == 0 || len(ds) == 0 {
			return err
		}
		_, err = tx.Exec(ctx, enqueueSQL, enqueueArgs(ds)...)
		return err
	})
}

// AddTrack implements store.Webhooks.
func (s *Store) AddTrack(ctx context.Context, t store.HookTrack) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if _, err := s.pool.Exec(ctx, addTracksSQL, trackArgs([]store.HookTrack{t})...); err != nil {
		return classify("add track", err)
	}
	return nil
}

// ListTracks implements store.Webhooks. A limit below 1 returns nothing.
func (s *Store) ListTracks(ctx context.Context, afterConv store.ConvID, afterSeq uint64, limit int) ([]store.HookTrack, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+trackCols+` FROM webhook_tracks
		WHERE (conv, seq) > ($1, $2) ORDER BY conv, seq LIMIT $3`, string(afterConv), int64(afterSeq), limit)
	if err != nil {
		return nil, classify("list tracks", err)
	}
	ts, err := collectTracks(rows)
	if err != nil {
		return nil, classify("list tracks", err)
	}
	return ts, nil
}

// GetTracks implements store.Webhooks.
func (s *Store) GetTracks(ctx context.Context, conv store.ConvID, seqs []uint64) ([]store.HookTrack, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if len(seqs) == 0 {
		return nil, nil
	}
	ss := make([]int64, len(seqs))
	for i, q := range seqs {
		ss[i] = int64(q)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+trackCols+` FROM webhook_tracks
		WHERE conv = $1 AND seq = ANY($2) ORDER BY seq`, string(conv), ss)
	if err != nil {
		return nil, classify("get tracks", err)
	}
	ts, err := collectTracks(rows)
	if err != nil {
		return nil, classify("get tracks", err)
	}
	return ts, nil
}

// CommitReport implements store.Webhooks in one transaction of at most
// three statements, sent as one pipelined batch: the track updates
// (updateTracksSQL keeps Fired growing and the counts rising in the
// database, so two nodes reporting one message at once cannot undo each
// other), the deletions, the deliveries.
func (s *Store) CommitReport(ctx context.Context, update []store.HookTrack, done []store.MsgRef, ds []store.Delivery) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if len(update) == 0 && len(done) == 0 && len(ds) == 0 {
		return nil
	}
	return s.withConn(ctx, "commit report", func(conn *pgx.Conn) error {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		if len(update) > 0 {
			b.Queue(updateTracksSQL, trackArgs(mergeTracks(update))...)
		}
		if len(done) > 0 {
			convs, seqs := refArgs(done)
			b.Queue(`DELETE FROM webhook_tracks WHERE (conv, seq) IN (SELECT * FROM unnest($1::text[], $2::bigint[]))`, convs, seqs)
		}
		if len(ds) > 0 {
			b.Queue(enqueueSQL, enqueueArgs(ds)...)
		}
		return commitBatch(ctx, conn, b)
	})
}

// nonNil returns s, or an empty slice for nil: the array columns are NOT
// NULL.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// nilIfEmpty returns nil for an empty s, as a Webhook that never had any
// holds it.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// pruneBatch bounds the rows one prune statement deletes: a short
// transaction each, so a large backlog never holds locks for long.
const pruneBatch = 1000

// PruneDeliveries implements store.DeliveryPruner, a batch of rows at a
// time through the index of delivered rows by age.
func (s *Store) PruneDeliveries(ctx context.Context, before int64) (int, error) {
	if err := s.acquire(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	total := 0
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_deliveries WHERE ctid IN (
			SELECT ctid FROM webhook_deliveries WHERE state = 'delivered' AND updated_at < $1 LIMIT $2)`,
			before, pruneBatch)
		if err != nil {
			return total, classify("prune deliveries", err)
		}
		n := int(tag.RowsAffected())
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}
