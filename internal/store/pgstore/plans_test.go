package pgstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seen-im/seen/internal/store"
)

// The statements of the keyed connections (keyedPool) run with generic
// plans, made once per connection from the statistics of that moment. On
// a new database every table is empty: a plan made then must still probe
// by key, or every later execution scans the table whole as it grows (it
// did, for the messages lookup, through a whole benchmark run).
func TestKeyedStatementsProbeAnEmptyDatabase(t *testing.T) {
	s := openAt(t, freshSchema(t))
	pools := []struct {
		name  string
		pool  *pgxpool.Pool
		stmts []string
	}{
		{"lookups", s.lookPool, []string{membersByKey(false), groupsByID, usersByID, settingsByID, lastSeqsByConv, messagesByID}},
		{"watermarks", s.wmPool, []string{membersByKey(true), watermarkUpdate, settleUpdate, memoWatermarkSQL, memoWritesSQL}},
	}
	for _, p := range pools {
		for i, sql := range p.stmts {
			plan := genericPlan(t, p.pool, sql)
			// Each of these reads a table (or all an index holds) whole.
			for _, whole := range []string{"Seq Scan", "Hash Join", "Merge Join", "Materialize"} {
				if strings.Contains(plan, whole) {
					t.Errorf("%s statement %d: its generic plan on an empty database reads a table whole (%s):\n%s\n%s",
						p.name, i, whole, sql, plan)
				}
			}
			if !strings.Contains(plan, "Index") && !strings.Contains(plan, "Tid") {
				t.Errorf("%s statement %d: its generic plan probes no index:\n%s\n%s", p.name, i, sql, plan)
			}
		}
	}
}

// genericPlan is the plan a connection of pool makes for sql, as a
// statement its session prepares: EXPLAIN of a prepared statement executed
// with every parameter NULL (a generic plan, as the session forces, does
// not depend on the values).
func genericPlan(t *testing.T, pool *pgxpool.Pool, sql string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "PREPARE probe AS "+sql); err != nil {
		t.Fatalf("prepare %s: %v", sql, err)
	}
	defer func() { _, _ = conn.Exec(ctx, "DEALLOCATE probe") }()
	var n int
	if err := conn.QueryRow(ctx, "SELECT cardinality(parameter_types) FROM pg_prepared_statements WHERE name = 'probe'").Scan(&n); err != nil {
		t.Fatalf("parameters of %s: %v", sql, err)
	}
	args := strings.TrimSuffix(strings.Repeat("NULL, ", n), ", ")
	rows, err := conn.Query(ctx, fmt.Sprintf("EXPLAIN EXECUTE probe(%s)", args))
	if err != nil {
		t.Fatalf("explain %s: %v", sql, err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatalf("explain %s: %v", sql, err)
		}
		plan.WriteString(line + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("explain %s: %v", sql, err)
	}
	return plan.String()
}

// A watermark round from the memo takes its rows' locks in its update, not
// in a locking read before it: it must meet them in the order of its keys
// (sorted, the order every writer of member rows locks them in), so its
// plan walks the keys and probes a row for each, never the other way round.
// A plan that walked the table's index and probed the keys could lock two
// rows in the other order than a round on another node, and deadlock.
func TestMemoRoundsLockInKeyOrder(t *testing.T) {
	s := openAt(t, freshSchema(t))
	for _, sql := range []string{memoWatermarkSQL, memoWritesSQL} {
		plan := genericPlan(t, s.wmPool, sql)
		// The update's join: a nested loop whose outer side (listed first)
		// is the keys, its inner side (the next line) an index probe of
		// members.
		lines := strings.Split(plan, "\n")
		i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "Function Scan on u ") })
		if i < 1 || i+1 >= len(lines) || !strings.Contains(lines[i-1], "Nested Loop") ||
			!strings.Contains(lines[i+1], "Index Scan using ") || !strings.Contains(lines[i+1], " on members m ") {
			t.Fatalf("the memo round's update is not a loop over its keys probing members:\n%s", plan)
		}
	}
}

// An append locks its senders' member rows with a statement whose plan
// PostgreSQL keeps: written with "user_id = ANY($2)", it was planned afresh
// on every execution, and that planning was half of all the planning a
// mixed load cost PostgreSQL (docs/benchmarks.md).
func TestAppendsKeepTheirMemberLockPlan(t *testing.T) {
	ctx := context.Background()
	const conns = 2 // the fewest Open runs with (its migrations take two)
	s, err := Open(ctx, freshSchema(t), Options{MaxConns: conns})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	// A group of a benchmark's size: on a handful of rows, any plan costs
	// the same and PostgreSQL kept the generic one either way.
	members := make([]store.Member, 2000)
	for i := range members {
		members[i] = store.Member{UserID: fmt.Sprintf("u%04d", i), Role: "member"}
	}
	if err := s.CreateGroup(ctx, store.Group{ID: "g", CreatedBy: "u0000"}, members); err != nil {
		t.Fatal(err)
	}
	conv := store.GroupConv("g")
	const appends = 30
	for i := range appends {
		m := store.Message{ID: fmt.Sprintf("n%d", i), Conv: conv, Sender: members[i%len(members)].UserID, SentAt: int64(i + 2)}
		if _, _, err := s.Append(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// Prepared statements are a session's: hold every connection of the
	// pool and add up what each planned.
	var custom, generic int64
	for range conns {
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		var c, g int64
		err = conn.QueryRow(ctx, `SELECT coalesce(sum(custom_plans), 0), coalesce(sum(generic_plans), 0) FROM pg_prepared_statements
			WHERE statement LIKE '%FROM members WHERE conv = $1 AND user_id%FOR UPDATE'`).Scan(&c, &g)
		if err != nil {
			t.Fatalf("the member lock's prepared statement: %v", err)
		}
		custom, generic = custom+c, generic+g
	}
	// PostgreSQL makes custom plans for a statement's first five
	// executions on a connection, then keeps a generic one if it costs no
	// more.
	if custom > 5*conns || custom+generic < appends {
		t.Errorf("the member lock was planned %d times in %d executions for %d appends, want at most %d",
			custom, custom+generic, appends, 5*conns)
	}
}
