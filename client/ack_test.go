package client

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/seen-im/seen/protocol"
)

// manualTimer stands in for time.After: the acker waits until the test
// fires it.
type manualTimer struct {
	waiting chan struct{}  // one value per time the acker started waiting
	fire    chan time.Time // the test sends to end the wait
}

func newManualTimer() *manualTimer {
	return &manualTimer{waiting: make(chan struct{}, 100), fire: make(chan time.Time)}
}

func (m *manualTimer) after(time.Duration) <-chan time.Time {
	select {
	case m.waiting <- struct{}{}:
	default:
	}
	return m.fire
}

// tick waits until the acker waits for its delay, then ends the wait.
func (m *manualTimer) tick(t *testing.T) {
	t.Helper()
	recv(t, m.waiting, "the acker to wait for its delay")
	select {
	case m.fire <- time.Now():
	case <-time.After(waitTimeout):
		t.Fatal("timed out firing the delay")
	}
}

type sentAck struct {
	conv protocol.Conversation
	seq  uint64
}

// fakeSend records acks and answers with the errors queued in errs, then nil.
type fakeSend struct {
	mu   sync.Mutex
	errs []error
	sent chan sentAck // every attempt, failed ones included
}

func newFakeSend(errs ...error) *fakeSend {
	return &fakeSend{errs: errs, sent: make(chan sentAck, 1000)}
}

func (f *fakeSend) send(_ context.Context, conv protocol.Conversation, seq uint64) error {
	f.sent <- sentAck{conv, seq}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.errs) == 0 {
		return nil
	}
	err := f.errs[0]
	f.errs = f.errs[1:]
	return err
}

// startAcker runs a with a manual timer until the test ends.
func startAcker(t *testing.T, a *acker) *manualTimer {
	t.Helper()
	mt := newManualTimer()
	a.after = mt.after
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { a.run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return mt
}

// collect receives n acks, in any order, keyed by conversation id.
func collect(t *testing.T, ch <-chan sentAck, n int) map[string]uint64 {
	t.Helper()
	got := map[string]uint64{}
	for range n {
		a := recv(t, ch, "an ack")
		if _, dup := got[a.conv.ID]; dup {
			t.Errorf("second ack for %s in one flush", a.conv.ID)
		}
		got[a.conv.ID] = a.seq
	}
	return got
}

func assertNone(t *testing.T, ch <-chan sentAck) {
	t.Helper()
	select {
	case a := <-ch:
		t.Errorf("got unexpected ack %+v", a)
	default:
	}
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func peer(id string) protocol.Conversation {
	return protocol.Conversation{Type: protocol.ConvPeer, ID: id}
}

func TestAckerBatchesPerConversation(t *testing.T) {
	fs := newFakeSend()
	a := newAcker(time.Hour, discard, fs.send)
	mt := startAcker(t, a)

	for seq := uint64(1); seq <= 100; seq++ {
		a.note(peer("bob"), seq)
	}
	for _, seq := range []uint64{7, 5, 6} { // out of order: the highest wins
		a.note(protocol.Conversation{Type: protocol.ConvGroup, ID: "g1"}, seq)
	}
	mt.tick(t)
	got := collect(t, fs.sent, 2)
	if want := map[string]uint64{"bob": 100, "g1": 7}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}

	// Nothing at or below what was acked is sent again.
	a.note(peer("bob"), 50)
	a.note(peer("bob"), 100)
	// Something new is, alone: anything else from the first flush would be
	// received before it.
	a.note(peer("bob"), 101)
	mt.tick(t)
	if got := collect(t, fs.sent, 1); got["bob"] != 101 {
		t.Errorf("got %v, want bob:101", got)
	}
	assertNone(t, fs.sent)
}

func TestAckerRetriesAfterDisconnect(t *testing.T) {
	fs := newFakeSend(fmt.Errorf("%w: boom", ErrDisconnected))
	a := newAcker(time.Hour, discard, fs.send)
	mt := startAcker(t, a)

	a.note(peer("bob"), 3)
	a.note(peer("carol"), 9)
	mt.tick(t)
	recv(t, fs.sent, "the failing ack") // the flush stops at the first disconnect
	// The attempt is recorded before it fails and the batch is requeued.
	checkFor(t, func() error {
		a.mu.Lock()
		n := len(a.pending)
		a.mu.Unlock()
		if n != 2 {
			return fmt.Errorf("got %d acks waiting after the disconnect, want 2", n)
		}
		return nil
	})

	a.wake() // as after a reconnect
	mt.tick(t)
	if got, want := collect(t, fs.sent, 2), map[string]uint64{"bob": 3, "carol": 9}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestAckerDropsRefusedAck(t *testing.T) {
	fs := newFakeSend(&protocol.Error{Code: protocol.CodeGone, Message: "expired"})
	a := newAcker(time.Hour, discard, fs.send)
	mt := startAcker(t, a)

	a.note(peer("bob"), 3)
	mt.tick(t)
	recv(t, fs.sent, "the refused ack")
	a.note(peer("bob"), 4)
	mt.tick(t)
	if got := recv(t, fs.sent, "the next ack"); got.seq != 4 {
		t.Errorf("got seq %d, want 4 (the refused 3 is not retried)", got.seq)
	}
	assertNone(t, fs.sent)
}
