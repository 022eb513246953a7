package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/seen-im/seen/internal/store"
)

// twoLevels is what the private reading cases compare: the shared read
// state senders see and the member's own.
type twoLevels struct {
	Read, Delivered uint64
	Acks            []uint64
	OwnRead         uint64
	OwnAcks         []uint64
}

func levelsOf(m store.Member) twoLevels {
	v := twoLevels{Read: m.ReadSeq, Delivered: m.DeliveredSeq, OwnRead: m.OwnReadSeq()}
	for _, a := range m.Acks {
		v.Acks = append(v.Acks, a.Seq)
	}
	for _, a := range m.OwnAcks() {
		v.OwnAcks = append(v.OwnAcks, a.Seq)
	}
	return v
}

// testPrivateReads walks one member through shared and private reads and
// acks: a shared one moves both levels, a private one only the own level,
// both fold the same way, and every read path returns both.
func testPrivateReads(t *testing.T, s store.Store) {
	ctx := t.Context()
	conv := mustCreateGroup(t, s, "g", "alice", "bob")
	for i := range 12 {
		mustAppend(t, s, msg(conv, "alice", fmt.Sprint(i), int64(i)))
	}
	steps := []struct {
		name        string
		op          string // "read", "one", "own-read", "own-one"
		seq         uint64
		wantChanged bool
		want        twoLevels
	}{
		{"shared read 2", "read", 2, true, twoLevels{2, 2, nil, 2, nil}},
		{"private read 4", "own-read", 4, true, twoLevels{2, 2, nil, 4, nil}},
		{"private read 3 is read already", "own-read", 3, false, twoLevels{2, 2, nil, 4, nil}},
		{"private ack 6", "own-one", 6, true, twoLevels{2, 2, nil, 4, []uint64{6}}},
		{"shared ack 6 reaches both", "one", 6, true, twoLevels{2, 2, []uint64{6}, 4, []uint64{6}}},
		{"shared ack 4: own has it", "one", 4, true, twoLevels{2, 2, []uint64{4, 6}, 4, []uint64{6}}},
		{"private ack 5 folds own through 6", "own-one", 5, true, twoLevels{2, 2, []uint64{4, 6}, 6, nil}},
		{"shared read 3 folds shared through 4", "read", 3, true, twoLevels{4, 4, []uint64{6}, 6, nil}},
		{"shared ack 5 folds shared to own: one level again", "one", 5, true, twoLevels{6, 6, nil, 6, nil}},
		{"private ack 9", "own-one", 9, true, twoLevels{6, 6, nil, 6, []uint64{9}}},
		{"shared read 10 passes both", "read", 10, true, twoLevels{10, 10, nil, 10, nil}},
		{"private read 12", "own-read", 12, true, twoLevels{10, 10, nil, 12, nil}},
		{"private ack 11 is read already", "own-one", 11, false, twoLevels{10, 10, nil, 12, nil}},
	}
	for _, st := range steps {
		var (
			m       store.Member
			changed bool
			err     error
		)
		switch st.op {
		case "read":
			m, changed, err = s.AdvanceRead(ctx, conv, "bob", st.seq, 100)
		case "one":
			m, changed, err = s.AckOne(ctx, conv, "bob", st.seq, 100)
		case "own-read":
			m, changed, err = s.AdvanceOwnRead(ctx, conv, "bob", st.seq, 100)
		case "own-one":
			var ch []bool
			m, ch, err = s.AckManyOwn(ctx, conv, "bob", []uint64{st.seq}, 100)
			changed = len(ch) == 1 && ch[0]
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if changed != st.wantChanged || !cmp.Equal(levelsOf(m), st.want, cmpopts.EquateEmpty()) {
			t.Fatalf("%s: got %+v changed %v, want %+v changed %v", st.name, levelsOf(m), changed, st.want, st.wantChanged)
		}
		got := mustMember(t, s, conv, "bob")
		if !cmp.Equal(levelsOf(got), st.want, cmpopts.EquateEmpty()) {
			t.Fatalf("%s: stored %+v, want %+v", st.name, levelsOf(got), st.want)
		}
		list, err := s.ListMembers(ctx, conv, "alice", 1)
		if err != nil || len(list) != 1 || !cmp.Equal(levelsOf(list[0]), st.want, cmpopts.EquateEmpty()) {
			t.Fatalf("%s: ListMembers %+v, %v; want %+v", st.name, list, err, st.want)
		}
		acts, err := s.ConversationsActivity(ctx, "bob")
		if err != nil || len(acts) != 1 || !cmp.Equal(levelsOf(acts[0].Member), st.want, cmpopts.EquateEmpty()) {
			t.Fatalf("%s: ConversationsActivity %+v, %v; want %+v", st.name, acts, err, st.want)
		}
	}
	// A member that read privately and then sends: the send is a read of
	// both levels up to it.
	mustAppend(t, s, msg(conv, "bob", "reply", 200))
	if got, want := levelsOf(mustMember(t, s, conv, "bob")), (twoLevels{13, 13, nil, 13, nil}); !cmp.Equal(got, want, cmpopts.EquateEmpty()) {
		t.Fatalf("after bob's send: %+v, want %+v", got, want)
	}
	if _, _, err := s.AdvanceOwnRead(ctx, conv, "carol", 1, 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AdvanceOwnRead by a non-member = %v, want ErrNotFound", err)
	}
}

// testPrivateAckLimit: the own level has the same MaxAcks bound, and a
// shared ack the own level cannot take changes neither level.
func testPrivateAckLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	conv := mustCreateGroup(t, s, "g", "alice", "bob")
	for i := range store.MaxAcks + 3 {
		mustAppend(t, s, msg(conv, "alice", fmt.Sprint(i), int64(i)))
	}
	seqs := make([]uint64, store.MaxAcks)
	for i := range seqs {
		seqs[i] = uint64(i) + 3 // 3 .. MaxAcks+2: none folds
	}
	if _, _, err := s.AckManyOwn(ctx, conv, "bob", seqs, 1); err != nil {
		t.Fatal(err)
	}
	before := levelsOf(mustMember(t, s, conv, "bob"))
	if len(before.OwnAcks) != store.MaxAcks || before.Read != 0 || len(before.Acks) != 0 {
		t.Fatalf("after MaxAcks private acks: %d own acks, shared read %d acks %v", len(before.OwnAcks), before.Read, before.Acks)
	}
	if _, _, err := s.AckManyOwn(ctx, conv, "bob", []uint64{store.MaxAcks + 3}, 1); !errors.Is(err, store.ErrTooManyAcks) {
		t.Errorf("private ack beyond MaxAcks = %v, want ErrTooManyAcks", err)
	}
	// The shared level has room, the own one has not: nothing changes.
	if _, _, err := s.AckOne(ctx, conv, "bob", store.MaxAcks+3, 1); !errors.Is(err, store.ErrTooManyAcks) {
		t.Errorf("shared ack the own level cannot take = %v, want ErrTooManyAcks", err)
	}
	if got := levelsOf(mustMember(t, s, conv, "bob")); !cmp.Equal(got, before, cmpopts.EquateEmpty()) {
		t.Errorf("a refused ack changed the member")
	}
	// A shared ack of a seq the own level holds already goes to the
	// shared level only, and one that folds the own level is taken.
	if _, changed, err := s.AckOne(ctx, conv, "bob", 3, 1); err != nil || !changed {
		t.Errorf("shared ack of an own-acked seq: changed %v, %v", changed, err)
	}
	m, changed, err := s.AckOne(ctx, conv, "bob", 1, 1)
	if err != nil || !changed || m.ReadSeq != 1 || m.OwnReadSeq() != 1 {
		t.Errorf("shared ack 1: %+v changed %v, %v", levelsOf(m), changed, err)
	}
}

// testSettings: defaults for a user who never set them, updates of one
// switch or both that return what stands and last, concurrent updates of
// different switches that both hold, ErrNotFound for an unknown user.
func testSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.PutUser(ctx, store.User{ID: "alice", CreatedAt: 1}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSettings(ctx, "alice")
	if err != nil || got != store.DefaultSettings() {
		t.Fatalf("GetSettings(alice) = %+v, %v; want the defaults %+v", got, err, store.DefaultSettings())
	}
	yes, no := true, false
	for _, st := range []struct {
		reads, delivery *bool
		want            store.Settings
	}{
		{&no, nil, store.Settings{ShareReads: false, ShareDelivery: true}},
		{nil, &no, store.Settings{ShareReads: false, ShareDelivery: false}},
		{&yes, nil, store.Settings{ShareReads: true, ShareDelivery: false}},
		{nil, nil, store.Settings{ShareReads: true, ShareDelivery: false}},
		{&yes, &yes, store.Settings{ShareReads: true, ShareDelivery: true}},
	} {
		got, err := s.UpdateSettings(ctx, "alice", st.reads, st.delivery)
		if err != nil || got != st.want {
			t.Fatalf("UpdateSettings = %+v, %v; want %+v", got, err, st.want)
		}
		if got, err := s.GetSettings(ctx, "alice"); err != nil || got != st.want {
			t.Fatalf("GetSettings after UpdateSettings = %+v, %v; want %+v", got, err, st.want)
		}
	}
	// Many rounds of two devices switching different things off at once:
	// neither update is lost.
	for round := range 20 {
		if _, err := s.UpdateSettings(ctx, "alice", &yes, &yes); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, f := range []func() (store.Settings, error){
			func() (store.Settings, error) { return s.UpdateSettings(ctx, "alice", &no, nil) },
			func() (store.Settings, error) { return s.UpdateSettings(ctx, "alice", nil, &no) },
		} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := f(); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if got, err := s.GetSettings(ctx, "alice"); err != nil || got != (store.Settings{}) {
			t.Fatalf("round %d: after two concurrent updates: %+v, %v; want both off", round, got, err)
		}
	}
	if _, err := s.GetSettings(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSettings(nobody) = %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateSettings(ctx, "nobody", &no, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateSettings(nobody) = %v, want ErrNotFound", err)
	}
}
