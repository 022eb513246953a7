package pebblestore

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/seen-im/seen/internal/store"
)

// stackObserver records, for each combiner round, whether it ran on the
// goroutine of the caller that queued the round's operations (its stack
// goes through Store.watermarks) or on a combiner goroutine of its own.
type stackObserver struct {
	mu        sync.Mutex
	onCaller  int
	elsewhere int
}

func (o *stackObserver) WatermarkQueued(int) {}

func (o *stackObserver) WatermarkBatch(int) {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
	caller := false
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, "pebblestore.(*Store).watermarks") {
			caller = true
		}
		if !more {
			break
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if caller {
		o.onCaller++
	} else {
		o.elsewhere++
	}
}

// TestSequentialAcksCombineOnTheCallersGoroutine: acks that come one at a
// time (the usual case: one reader, one request) are applied by their
// caller, so none costs a goroutine start and a hand-off to it; each is
// still its own durable round.
func TestSequentialAcksCombineOnTheCallersGoroutine(t *testing.T) {
	obs := &stackObserver{}
	opts := testOptions
	opts.Observer = obs
	s, conv := groupOfTwo(t, opts)
	ctx := t.Context()
	const acks = 20
	for seq := uint64(1); seq <= acks; seq++ {
		got, _, err := s.AdvanceDelivered(ctx, conv, "u1", seq, int64(seq))
		if err != nil {
			t.Fatal(err)
		}
		if got.DeliveredSeq != seq {
			t.Fatalf("ack %d: delivered watermark %d, want %d", seq, got.DeliveredSeq, seq)
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.onCaller != acks || obs.elsewhere != 0 {
		t.Errorf("got %d rounds on the caller's goroutine and %d on a combiner goroutine, want %d and 0",
			obs.onCaller, obs.elsewhere, acks)
	}
}

// TestConcurrentAcksAreLedByTheirCallers: under a storm (many members of
// one group acking at once) every round still runs on a caller's
// goroutine, the lead handed from caller to caller, and every ack is
// applied and answered.
func TestConcurrentAcksAreLedByTheirCallers(t *testing.T) {
	obs := &stackObserver{}
	opts := testOptions
	opts.Observer = obs
	s, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	conv := store.GroupConv("g")
	members := make([]store.Member, 16)
	for i := range members {
		members[i] = store.Member{UserID: fmt.Sprint("u", i), Role: "member"}
	}
	if err := s.CreateGroup(ctx, store.Group{ID: "g", CreatedBy: "u0"}, members); err != nil {
		t.Fatal(err)
	}
	const acks = 30
	var wg sync.WaitGroup
	for _, m := range members {
		wg.Go(func() {
			for seq := uint64(1); seq <= acks; seq++ {
				got, _, err := s.AdvanceDelivered(ctx, conv, m.UserID, seq, int64(seq))
				if err != nil {
					t.Error(err)
					return
				}
				if got.DeliveredSeq != seq {
					t.Errorf("%s ack %d: delivered watermark %d", m.UserID, seq, got.DeliveredSeq)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, m := range members {
		got, err := s.GetMember(ctx, conv, m.UserID)
		if err != nil {
			t.Fatal(err)
		}
		if got.DeliveredSeq != acks {
			t.Errorf("%s: stored delivered watermark %d, want %d", m.UserID, got.DeliveredSeq, acks)
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.elsewhere != 0 || obs.onCaller == 0 {
		t.Errorf("got %d rounds on callers' goroutines and %d on others, want some and 0", obs.onCaller, obs.elsewhere)
	}
	t.Logf("%d acks in %d rounds", len(members)*acks, obs.onCaller)
}

// A round answers each op as if applied alone in queue order, whether it
// keeps its members in the small array (a few ops) or maps them (more):
// a member's later op sees its earlier ones, an op that changes nothing
// says so, an unknown member's op fails alone, and each member touched is
// written once with its final state. A second round reuses the first's
// array.
func TestRoundOfManyOpsAnswersEachInOrder(t *testing.T) {
	for _, n := range []int{2, smallRound + 4} {
		t.Run(fmt.Sprint(n, " members"), func(t *testing.T) {
			s, err := Open(t.TempDir(), testOptions)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			ctx := t.Context()
			conv := store.GroupConv("g")
			members := make([]store.Member, n)
			for i := range members {
				members[i] = store.Member{UserID: fmt.Sprint("u", i), Role: "member"}
			}
			if err := s.CreateGroup(ctx, store.Group{ID: "g", CreatedBy: "u0"}, members); err != nil {
				t.Fatal(err)
			}
			for round := uint64(0); round < 2; round++ {
				base := round * 10
				var ops []*store.WatermarkOp
				for _, m := range members {
					ops = append(ops, store.DeliveredOp(m.UserID, base+2, 1))
				}
				ops = append(ops, store.DeliveredOp("nobody", base+1, 1))
				for _, m := range members {
					ops = append(ops, store.DeliveredOp(m.UserID, base+1, 1), store.DeliveredOp(m.UserID, base+3, 1))
				}
				if err := s.watermarks(ctx, conv, ops); err != nil {
					t.Fatal(err)
				}
				for i, op := range ops {
					wantSeq, wantChanged := base+3, true
					switch {
					case op.User == "nobody":
						if !errors.Is(op.Err, store.ErrNotFound) {
							t.Errorf("round %d, op %d of an unknown member: err %v, want not found", round, i, op.Err)
						}
						continue
					case i < n:
						wantSeq = base + 2
					case op.Seq == base+1:
						wantSeq, wantChanged = base+2, false
					}
					if op.Err != nil || op.Res.DeliveredSeq != wantSeq || op.Changed != wantChanged {
						t.Errorf("round %d, op %d (%s to %d): delivered %d, changed %v, err %v; want %d, %v",
							round, i, op.User, op.Seq, op.Res.DeliveredSeq, op.Changed, op.Err, wantSeq, wantChanged)
					}
				}
				for _, m := range members {
					got, err := s.GetMember(ctx, conv, m.UserID)
					if err != nil || got.DeliveredSeq != base+3 {
						t.Errorf("round %d: %s stored at %d (%v), want %d", round, m.UserID, got.DeliveredSeq, err, base+3)
					}
				}
			}
		})
	}
}

// TestLeadersOwnOpsHaveNoDone: a caller that runs the round of its own op
// (LazyDone) does not make the op's Done channel, which only a caller
// waiting for another's round needs; and a single-message AckMany shares
// one allocation between its op, the list Run takes and its result. (The
// concurrent callers that do wait are TestConcurrentAcksAreLedByTheirCallers.)
func TestLeadersOwnOpsHaveNoDone(t *testing.T) {
	s, conv := groupOfTwo(t, testOptions)
	ctx := t.Context()
	seq := uint64(0)
	ack := func() {
		seq++
		m, changed, err := s.AckMany(ctx, conv, "u1", []uint64{seq}, int64(seq))
		if err != nil || len(changed) != 1 || !changed[0] || m.ReadSeq != seq {
			t.Fatalf("AckMany(%d) = read %d, %v, %v; want read %d, [true]", seq, m.ReadSeq, changed, err, seq)
		}
	}
	lazy := testing.AllocsPerRun(50, ack)
	s.WatermarkFront.LazyDone = false
	eager := testing.AllocsPerRun(50, ack)
	if eager-lazy < 1 {
		t.Errorf("an ack allocated %v times with LazyDone, %v without: want at least one fewer (its Done)", lazy, eager)
	}
}

// groupOfTwo opens a store with opts, closed when t ends, holding group g
// of u0 (its owner) and u1.
func groupOfTwo(t *testing.T, opts Options) (*Store, store.ConvID) {
	t.Helper()
	s, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.CreateGroup(t.Context(), store.Group{ID: "g", CreatedBy: "u0"},
		[]store.Member{{UserID: "u0", Role: "owner"}, {UserID: "u1", Role: "member"}}); err != nil {
		t.Fatal(err)
	}
	return s, store.GroupConv("g")
}
