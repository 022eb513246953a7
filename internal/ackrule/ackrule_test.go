package ackrule_test

import (
	"errors"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/seen-im/seen/internal/receipts"
	"github.com/seen-im/seen/internal/store"
)

// TestStoreAndEngineAgree drives the store's watermark operations (what
// both backends apply to the member records they persist) and the receipt
// engine with the same random reads, deliveries and single-message acks,
// and checks after every one that they changed alike, failed alike, hold
// the same state, and that the engine's indexes count what the state says.
// The engine restored from the store's record must equal the live one.
func TestStoreAndEngineAgree(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maxSeq  uint64
		readOne int // percent of ops that are single-message acks
		ops     int
	}{
		{"dense", 40, 60, 3000},
		{"sparse", 4 * store.MaxAcks, 97, 6000}, // reaches the ack limit
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(4) {
				rng := rand.New(rand.NewPCG(seed, 7))
				agree(t, rng, tc.maxSeq, tc.readOne, tc.ops)
			}
		})
	}
}

func agree(t *testing.T, rng *rand.Rand, maxSeq uint64, readOne, ops int) {
	t.Helper()
	users := []string{"r1", "r2"}
	c := receipts.NewConv()
	c.Restore(receipts.MemberState{UserID: "s", JoinSeq: 1})
	stored := map[string]*store.Member{}
	for _, u := range users {
		stored[u] = &store.Member{UserID: u, JoinSeq: 1}
		c.Restore(receipts.MemberState{UserID: u, JoinSeq: 1})
	}
	limited := false
	for i := range ops {
		u := users[rng.IntN(len(users))]
		seq := 1 + rng.Uint64N(maxSeq)
		at := int64(1000 + i)
		var op *store.WatermarkOp
		var changed bool
		var err error
		switch p := rng.IntN(100); {
		case p < readOne:
			op = store.AckOp(u, seq, at)
			_, changed, err = c.ReadOne(u, seq, at)
		case p < readOne+(100-readOne)/2:
			// Watermarks move slowly, so the acks above them pile up.
			seq = min(seq, stored[u].ReadSeq+1+rng.Uint64N(3))
			op = store.ReadOp(u, seq, at)
			_, _, _, changed, err = c.ReadUpTo(u, seq, at)
		default:
			op = store.DeliveredOp(u, seq, at)
			_, _, _, changed, err = c.DeliverUpTo(u, seq, at)
		}
		_, storeChanged, storeErr := op.ApplyTo(stored[u])
		if changed != storeChanged || errors.Is(err, receipts.ErrTooManySparse) != errors.Is(storeErr, store.ErrTooManyAcks) ||
			(err == nil) != (storeErr == nil) {
			t.Fatalf("op %d (%v %s seq %d): engine changed %v err %v, store changed %v err %v",
				i, op.Kind, u, seq, changed, err, storeChanged, storeErr)
		}
		limited = limited || storeErr != nil
		want := *stored[u]
		got, _ := c.Member(u)
		if got.ReadSeq != want.ReadSeq || got.DeliveredSeq != want.DeliveredSeq || got.ReadAt != want.ReadAt ||
			got.DeliveredAt != want.DeliveredAt || !slices.Equal(got.Acks, want.Acks) {
			t.Fatalf("op %d (%v %s seq %d): engine %+v, store %+v", i, op.Kind, u, seq, brief(got), brief(receipts.MemberState{
				ReadSeq: want.ReadSeq, DeliveredSeq: want.DeliveredSeq, ReadAt: want.ReadAt, DeliveredAt: want.DeliveredAt, Acks: want.Acks}))
		}
		if i%97 == 0 {
			checkCounts(t, c, stored, maxSeq)
			restored := receipts.NewConv()
			restored.Restore(receipts.MemberState{UserID: u, JoinSeq: 1, ReadSeq: want.ReadSeq, DeliveredSeq: want.DeliveredSeq,
				ReadAt: want.ReadAt, DeliveredAt: want.DeliveredAt, Acks: want.Acks})
			if r, _ := restored.Member(u); r.ReadSeq != got.ReadSeq || r.DeliveredSeq != got.DeliveredSeq ||
				r.ReadAt != got.ReadAt || r.DeliveredAt != got.DeliveredAt || !slices.Equal(r.Acks, got.Acks) {
				t.Fatalf("op %d: restored from the store %+v, live engine %+v", i, brief(r), brief(got))
			}
		}
	}
	checkCounts(t, c, stored, maxSeq)
	if maxSeq > store.MaxAcks && !limited {
		t.Errorf("no op reached the ack limit of %d", store.MaxAcks)
	}
}

// checkCounts compares the engine's counts of every seq with the members'
// states as stored.
func checkCounts(t *testing.T, c *receipts.Conv, stored map[string]*store.Member, maxSeq uint64) {
	t.Helper()
	for seq := uint64(1); seq <= maxSeq+1; seq++ {
		read, deliv := 0, 0
		for _, m := range stored {
			if seq <= m.ReadSeq || m.HasAck(seq) {
				read++
			}
			if seq <= m.DeliveredSeq || m.HasAck(seq) {
				deliv++
			}
		}
		got := c.Counts(seq, "s")
		if got.Read != read || got.Delivered != deliv || got.Unread != len(stored)-read {
			t.Fatalf("seq %d: engine counts %+v, from the stored states read %d delivered %d", seq, got, read, deliv)
		}
	}
}

// brief is a member state without its long ack list, for messages.
func brief(m receipts.MemberState) string {
	return "read " + strconv.FormatUint(m.ReadSeq, 10) + "@" + strconv.FormatInt(m.ReadAt, 10) +
		" delivered " + strconv.FormatUint(m.DeliveredSeq, 10) + "@" + strconv.FormatInt(m.DeliveredAt, 10) +
		" acks " + strconv.Itoa(len(m.Acks))
}

// TestImportsArePure: the rule imports only the standard library, as the
// engine that uses it must.
func TestImportsArePure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.Contains(path, ".") {
				t.Errorf("%s imports %s; ackrule must use only the standard library", name, path)
			}
		}
	}
}
