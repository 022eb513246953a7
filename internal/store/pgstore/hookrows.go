package pgstore

import (
	"encoding/json"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/seen-im/seen/internal/store"
)

// The webhook writes that ride along other writes (an Append, a fired
// timer, a report) are one statement each, whatever the number of rows:
// the rows go in as parallel arrays, unnested. Each is a SQL string and
// its arguments, so it can be queued in a pipelined batch (Append) as
// well as run in a transaction.

// enqueueSQL inserts deliveries, skipping those stored already (an event
// is enqueued at most once per endpoint) and those whose endpoint is gone:
// DeleteWebhook deletes an endpoint's deliveries, and an enqueue racing
// with it must not leave orphans behind, nor fail the Append it rides
// along. FOR KEY SHARE locks each endpoint it joins until the commit, so
// an endpoint deleted concurrently is either skipped (deleted first) or
// deleted with the new rows (deleted after), never a foreign key error.
const enqueueSQL = `INSERT INTO webhook_deliveries (endpoint, event_id, type, payload, state, attempts,
		next_at, lease_until, last_error, created_at, updated_at)
	(SELECT d.endpoint, d.event_id, d.type, d.payload, d.state, d.attempts,
		d.next_at, d.lease_until, d.last_error, d.created_at, d.updated_at
	FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::int[],
		$7::bigint[], $8::bigint[], $9::text[], $10::bigint[], $11::bigint[])
		AS d(endpoint, event_id, type, payload, state, attempts, next_at, lease_until, last_error, created_at, updated_at)
	JOIN webhooks w ON w.id = d.endpoint
	FOR KEY SHARE OF w)
	ON CONFLICT (endpoint, event_id) DO NOTHING`

// enqueueArgs are enqueueSQL's arguments for ds. A delivery without a
// state is pending: a row with none would never be claimed. Of deliveries
// that repeat an (Endpoint, EventID) in ds, the first is kept, as if each
// had been enqueued in turn: within one INSERT, which of two conflicting
// rows wins depends on the plan.
func enqueueArgs(ds []store.Delivery) []any {
	type key struct{ endpoint, id string }
	seen := make(map[key]bool, len(ds))
	uniq := ds[:0:0]
	for _, d := range ds {
		if k := (key{d.Endpoint, d.EventID}); !seen[k] {
			seen[k] = true
			uniq = append(uniq, d)
		}
	}
	ds = uniq
	n := len(ds)
	var (
		endpoints, ids, types, states, errs = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		payloads                            = make([][]byte, n)
		attempts                            = make([]int32, n)
		nextAt, leases, created, updated    = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	)
	for i, d := range ds {
		endpoints[i], ids[i], types[i], errs[i] = d.Endpoint, d.EventID, d.Type, d.LastError
		states[i] = d.State
		if states[i] == "" {
			states[i] = store.DeliveryPending
		}
		if d.Payload != nil {
			payloads[i] = d.Payload
		}
		attempts[i] = int32(d.Attempts)
		nextAt[i], leases[i], created[i], updated[i] = d.NextAt, d.LeaseUntil, d.CreatedAt, d.UpdatedAt
	}
	return []any{endpoints, ids, types, payloads, states, attempts, nextAt, leases, errs, created, updated}
}

// deliveryCols are a delivery's columns, as scanDelivery reads them.
const deliveryCols = "endpoint, event_id, type, payload, state, attempts, next_at, lease_until, last_error, created_at, updated_at"

func scanDelivery(row pgx.Row) (store.Delivery, error) {
	var (
		d        store.Delivery
		payload  []byte
		attempts int32
	)
	if err := row.Scan(&d.Endpoint, &d.EventID, &d.Type, &payload, &d.State, &attempts,
		&d.NextAt, &d.LeaseUntil, &d.LastError, &d.CreatedAt, &d.UpdatedAt); err != nil {
		return store.Delivery{}, err
	}
	if payload != nil {
		d.Payload = json.RawMessage(payload)
	}
	d.Attempts = int(attempts)
	return d, nil
}

func collectDeliveries(rows pgx.Rows) ([]store.Delivery, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Delivery, error) { return scanDelivery(r) })
}

// addTimersSQL inserts timers, keeping any stored already as they are.
const addTimersSQL = `INSERT INTO webhook_timers (conv, seq, kind, due_at, lease_until)
	SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[])
	ON CONFLICT (conv, seq, kind) DO NOTHING`

func addTimersArgs(ts []store.Timer) []any {
	n := len(ts)
	convs, kinds := make([]string, n), make([]string, n)
	seqs, due, leases := make([]int64, n), make([]int64, n), make([]int64, n)
	for i, t := range ts {
		convs[i], seqs[i], kinds[i], due[i], leases[i] = string(t.Conv), int64(t.Seq), t.Kind, t.DueAt, t.LeaseUntil
	}
	return []any{convs, seqs, kinds, due, leases}
}

const timerCols = "conv, seq, kind, due_at, lease_until"

func scanTimer(row pgx.Row) (store.Timer, error) {
	var (
		t    store.Timer
		conv string
		seq  int64
	)
	if err := row.Scan(&conv, &seq, &t.Kind, &t.DueAt, &t.LeaseUntil); err != nil {
		return store.Timer{}, err
	}
	t.Conv, t.Seq = store.ConvID(conv), uint64(seq)
	return t, nil
}

// addTracksSQL starts tracks, keeping any stored already as they are.
const addTracksSQL = `INSERT INTO webhook_tracks (conv, seq, msg_id, reported, reported_at, fired)
	SELECT u.conv, u.seq, u.msg_id, u.reported, u.reported_at,
		COALESCE(ARRAY(SELECT jsonb_array_elements_text(u.fired::jsonb)), '{}')
	FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[])
		AS u(conv, seq, msg_id, reported, reported_at, fired)
	ON CONFLICT (conv, seq) DO NOTHING`

// trackArgs are the arguments of addTracksSQL and updateTracksSQL for ts.
// Fired goes in as a JSON array per track: PostgreSQL arrays of arrays
// must be rectangular, and a JSON text carries any string as it is.
func trackArgs(ts []store.HookTrack) []any {
	n := len(ts)
	convs, ids, fired := make([]string, n), make([]string, n), make([]string, n)
	seqs, reported, at := make([]int64, n), make([]int64, n), make([]int64, n)
	for i, t := range ts {
		convs[i], seqs[i], ids[i], reported[i], at[i] = string(t.Conv), int64(t.Seq), t.MsgID, int64(t.Reported), t.ReportedAt
		f := t.Fired
		if f == nil {
			f = []string{}
		}
		b, _ := json.Marshal(f) // a []string always marshals
		fired[i] = string(b)
	}
	return []any{convs, seqs, ids, reported, at, fired}
}

// updateTracksSQL records a report on the tracks that still exist: Fired
// is the stored thresholds followed by the given ones not among them, in
// the order given (a threshold fires once, and never un-fires), and
// Reported/ReportedAt only rise, so a late or repeated report cannot move
// a track back. The message id of a track never changes.
const updateTracksSQL = `UPDATE webhook_tracks t SET
		reported = GREATEST(t.reported, u.reported),
		reported_at = GREATEST(t.reported_at, u.reported_at),
		fired = t.fired || ARRAY(
			SELECT e.f FROM jsonb_array_elements_text(u.fired::jsonb) WITH ORDINALITY AS e(f, i)
			WHERE e.f <> ALL (t.fired) GROUP BY e.f ORDER BY min(e.i))
	FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[])
		AS u(conv, seq, msg_id, reported, reported_at, fired)
	WHERE t.conv = u.conv AND t.seq = u.seq`

// mergeTracks folds tracks that name the same message into one, as two
// updates one after the other would leave it: an UPDATE changes a row
// once, whatever the number of its matches in the FROM list.
func mergeTracks(ts []store.HookTrack) []store.HookTrack {
	type key struct {
		conv store.ConvID
		seq  uint64
	}
	at := make(map[key]int, len(ts))
	out := make([]store.HookTrack, 0, len(ts))
	for _, t := range ts {
		k := key{t.Conv, t.Seq}
		i, ok := at[k]
		if !ok {
			at[k] = len(out)
			t.Fired = slices.Clone(t.Fired)
			out = append(out, t)
			continue
		}
		m := &out[i]
		m.Reported = max(m.Reported, t.Reported)
		m.ReportedAt = max(m.ReportedAt, t.ReportedAt)
		for _, f := range t.Fired {
			if !slices.Contains(m.Fired, f) {
				m.Fired = append(m.Fired, f)
			}
		}
	}
	return out
}

const trackCols = "conv, seq, msg_id, reported, reported_at, fired"

func scanTrack(row pgx.Row) (store.HookTrack, error) {
	var (
		t             store.HookTrack
		conv          string
		seq, reported int64
	)
	if err := row.Scan(&conv, &seq, &t.MsgID, &reported, &t.ReportedAt, &t.Fired); err != nil {
		return store.HookTrack{}, err
	}
	t.Conv, t.Seq, t.Reported = store.ConvID(conv), uint64(seq), int(reported)
	if len(t.Fired) == 0 {
		t.Fired = nil
	}
	return t, nil
}

func collectTracks(rows pgx.Rows) ([]store.HookTrack, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.HookTrack, error) { return scanTrack(r) })
}

// refArgs are a list of message refs as two arrays, conv and seq.
func refArgs(refs []store.MsgRef) (convs []string, seqs []int64) {
	convs, seqs = make([]string, len(refs)), make([]int64, len(refs))
	for i, r := range refs {
		convs[i], seqs[i] = string(r.Conv), int64(r.Seq)
	}
	return convs, seqs
}

// hookWrites is what the Hooks of an Append round write: the parts of
// every new message's outbox, with the message's place filled in.
type hookWrites struct {
	deliveries []store.Delivery
	timers     []store.Timer
	tracks     []store.HookTrack
}

// add takes in the outbox of m, a message the round stores. A timer or a
// track in a message's outbox is the message's own: its caller cannot
// know the seq before the append allocates it, so Append sets Conv and
// Seq on both (and MsgID on the track), as store.HookOutbox says of Track.
func (h *hookWrites) add(m store.Message) {
	o := m.Hooks
	if o.Empty() {
		return
	}
	h.deliveries = append(h.deliveries, o.Deliveries...)
	for _, t := range o.Timers {
		t.Conv, t.Seq = m.Conv, m.Seq
		h.timers = append(h.timers, t)
	}
	if o.Track != nil {
		t := *o.Track
		t.Conv, t.Seq, t.MsgID = m.Conv, m.Seq, m.ID
		h.tracks = append(h.tracks, t)
	}
}

// queue queues the writes in b, a statement per kind of row at most.
func (h *hookWrites) queue(b *pgx.Batch) {
	if len(h.deliveries) > 0 {
		b.Queue(enqueueSQL, enqueueArgs(h.deliveries)...)
	}
	if len(h.timers) > 0 {
		b.Queue(addTimersSQL, addTimersArgs(h.timers)...)
	}
	if len(h.tracks) > 0 {
		b.Queue(addTracksSQL, trackArgs(h.tracks)...)
	}
}
