package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/seen-im/seen/protocol"
)

// readAsync calls Read with ids in a goroutine of wg; the result lands in
// *res and *err.
func readAsync(wg *sync.WaitGroup, c *Client, conv protocol.Conversation, ids []string, res *protocol.ReadResult, err *error) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		*res, *err = c.Read(context.Background(), protocol.ReadParams{Conversation: conv, MsgIDs: ids})
	}()
}

// TestReadBatchesByDefault: a lone Read goes out at once; Reads of the
// same conversation made while it is in flight wait for its answer, then
// go together in one request, and each caller gets its own count.
func TestReadBatchesByDefault(t *testing.T) {
	url, reads := readServer(t)
	c := dialReads(t, url)
	conv := protocol.Conversation{Type: protocol.ConvGroup, ID: "g"}
	parts := [][]string{{"a"}, {"b", "c"}, {"d"}, {"e", "f", "g"}}
	res := make([]protocol.ReadResult, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	readAsync(&wg, c, conv, parts[0], &res[0], &errs[0])
	first := recv(t, reads, "the lone read")
	if !slices.Equal(first.ids, parts[0]) {
		t.Fatalf("first request ids %v, want %v", first.ids, parts[0])
	}
	for i := 1; i < len(parts); i++ {
		readAsync(&wg, c, conv, parts[i], &res[i], &errs[i])
	}
	checkFor(t, func() error {
		if n := c.reads.waiting(conv); n != len(parts)-1 {
			return fmt.Errorf("%d calls queued, want %d", n, len(parts)-1)
		}
		return nil
	})
	select {
	case r := <-reads:
		t.Fatalf("a request %v went out while one was in flight", r.ids)
	default:
	}
	first.reply <- json.RawMessage(`"result":{"read":1}`)
	second := recv(t, reads, "the shared read")
	want := slices.Concat(parts[1:]...)
	got := slices.Clone(second.ids)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("shared request ids %v, want %v", second.ids, want)
	}
	second.reply <- json.RawMessage(`"result":{"read":6}`)
	wg.Wait()
	for i, p := range parts {
		if errs[i] != nil || res[i].Read != len(p) {
			t.Errorf("Read %v = %+v, %v; want read %d", p, res[i], errs[i], len(p))
		}
	}
	select {
	case r := <-reads:
		t.Fatalf("a third request %v", r.ids)
	default:
	}
}

// TestReadBatchingOff: with WithReadBatching(false) a Read made while
// another is in flight goes out at once, on its own.
func TestReadBatchingOff(t *testing.T) {
	url, reads := readServer(t)
	c := dialReads(t, url, WithReadBatching(false))
	conv := protocol.Conversation{Type: protocol.ConvGroup, ID: "g"}
	var res [2]protocol.ReadResult
	var errs [2]error
	var wg sync.WaitGroup
	readAsync(&wg, c, conv, []string{"a"}, &res[0], &errs[0])
	first := recv(t, reads, "the first read")
	readAsync(&wg, c, conv, []string{"b"}, &res[1], &errs[1])
	second := recv(t, reads, "the second read, while the first is in flight")
	if !slices.Equal(first.ids, []string{"a"}) || !slices.Equal(second.ids, []string{"b"}) {
		t.Fatalf("requests %v and %v, want [a] and [b]", first.ids, second.ids)
	}
	first.reply <- json.RawMessage(`"result":{"read":1}`)
	second.reply <- json.RawMessage(`"result":{"read":0}`)
	wg.Wait()
	if errs[0] != nil || errs[1] != nil || res[0].Read != 1 || res[1].Read != 0 {
		t.Errorf("results %+v %v, want read 1 and 0, no error", res, errs)
	}
}

// TestReadBatchHoldsAtMost100Ids: queued Reads go in requests of at most
// MaxMsgIDs ids, a caller's ids never split, in the order they queued.
func TestReadBatchHoldsAtMost100Ids(t *testing.T) {
	url, reads := readServer(t)
	c := dialReads(t, url)
	conv := protocol.Conversation{Type: protocol.ConvGroup, ID: "g"}
	ids := func(p string, n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprint(p, i)
		}
		return s
	}
	var res [3]protocol.ReadResult
	var errs [3]error
	var wg sync.WaitGroup
	readAsync(&wg, c, conv, []string{"lead"}, &res[0], &errs[0])
	lead := recv(t, reads, "the leader's read")
	// Queue x then y, in that order: 60 + 60 ids do not fit in one request.
	readAsync(&wg, c, conv, ids("x", 60), &res[1], &errs[1])
	checkFor(t, func() error {
		if n := c.reads.waiting(conv); n != 1 {
			return fmt.Errorf("%d calls queued, want 1", n)
		}
		return nil
	})
	readAsync(&wg, c, conv, ids("y", protocol.MaxMsgIDs-40), &res[2], &errs[2])
	checkFor(t, func() error {
		if n := c.reads.waiting(conv); n != 2 {
			return fmt.Errorf("%d calls queued, want 2", n)
		}
		return nil
	})
	lead.reply <- json.RawMessage(`"result":{"read":1}`)
	x := recv(t, reads, "x's read")
	if !slices.Equal(x.ids, ids("x", 60)) {
		t.Fatalf("second request has %d ids %v..., want x's 60 alone", len(x.ids), x.ids[:1])
	}
	x.reply <- json.RawMessage(`"result":{"read":60}`)
	y := recv(t, reads, "y's read")
	if !slices.Equal(y.ids, ids("y", protocol.MaxMsgIDs-40)) {
		t.Fatalf("third request has %d ids, want y's %d", len(y.ids), protocol.MaxMsgIDs-40)
	}
	y.reply <- json.RawMessage(`"result":{"read":60}`)
	wg.Wait()
	for i, want := range []int{1, 60, 60} {
		if errs[i] != nil || res[i].Read != want {
			t.Errorf("Read %d = %+v, %v; want read %d", i, res[i], errs[i], want)
		}
	}
}

// TestReadSharedCountAttribution: when a shared request's ids were not all
// new, the count cannot be split exactly; no caller is told more than its
// own ids or the request's count.
func TestReadSharedCountAttribution(t *testing.T) {
	for _, tc := range []struct{ read, total, own, want int }{
		{5, 5, 2, 2}, {5, 5, 3, 3}, {1, 5, 3, 1}, {4, 5, 3, 3}, {0, 5, 3, 0},
	} {
		if got := attribute(tc.read, tc.total, tc.own); got != tc.want {
			t.Errorf("attribute(%d, %d, %d) = %d, want %d", tc.read, tc.total, tc.own, got, tc.want)
		}
	}
}

// TestReadSharedCallerStopsAtCtx: a caller whose read went out in a
// shared request another caller sends returns its ctx's error as soon as
// ctx ends, without waiting for the answer; the others sharing the request
// still get theirs.
func TestReadSharedCallerStopsAtCtx(t *testing.T) {
	url, reads := readServer(t)
	c := dialReads(t, url)
	conv := protocol.Conversation{Type: protocol.ConvGroup, ID: "g"}
	var lead, other protocol.ReadResult
	var leadErr, otherErr error
	var wg sync.WaitGroup
	readAsync(&wg, c, conv, []string{"lead"}, &lead, &leadErr)
	first := recv(t, reads, "the leader's read")
	// o queues first: it leads the shared request, sending it on its own
	// goroutine, so it is the one that waits for the answer.
	readAsync(&wg, c, conv, []string{"o"}, &other, &otherErr)
	checkFor(t, func() error {
		if n := c.reads.waiting(conv); n != 1 {
			return fmt.Errorf("%d calls queued, want 1", n)
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quit := make(chan error, 1)
	go func() {
		_, err := c.Read(ctx, protocol.ReadParams{Conversation: conv, MsgIDs: []string{"q"}})
		quit <- err
	}()
	checkFor(t, func() error {
		if n := c.reads.waiting(conv); n != 2 {
			return fmt.Errorf("%d calls queued, want 2", n)
		}
		return nil
	})
	first.reply <- json.RawMessage(`"result":{"read":1}`)
	shared := recv(t, reads, "the shared read")
	if len(shared.ids) != 2 {
		t.Fatalf("shared ids %v, want q and o", shared.ids)
	}
	cancel()
	if err := recv(t, quit, "the cancelled caller's return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v, want context.Canceled", err)
	}
	shared.reply <- json.RawMessage(`"result":{"read":2}`)
	wg.Wait()
	if leadErr != nil || otherErr != nil || lead.Read != 1 || other.Read != 1 {
		t.Errorf("lead %+v %v, other %+v %v; want read 1 each", lead, leadErr, other, otherErr)
	}
}

// TestPrivateReadGoesAlone: a private Read is never put in a shared
// request: it goes out at once, flagged private, even while a shared read
// of the same conversation is in flight, and shared reads made meanwhile
// still wait for the shared one.
func TestPrivateReadGoesAlone(t *testing.T) {
	url, reads := readServer(t)
	c := dialReads(t, url)
	conv := protocol.Conversation{Type: protocol.ConvGroup, ID: "g"}
	var wg sync.WaitGroup
	var shared, queued, private protocol.ReadResult
	var sharedErr, queuedErr, privateErr error
	readAsync(&wg, c, conv, []string{"a"}, &shared, &sharedErr)
	first := recv(t, reads, "the shared read")
	if first.private {
		t.Fatal("a plain Read went out private")
	}
	readAsync(&wg, c, conv, []string{"b"}, &queued, &queuedErr)
	wg.Add(1)
	go func() {
		defer wg.Done()
		private, privateErr = c.Read(context.Background(), protocol.ReadParams{Conversation: conv, MsgIDs: []string{"c"}, Private: true})
	}()
	alone := recv(t, reads, "the private read")
	if !alone.private || !slices.Equal(alone.ids, []string{"c"}) {
		t.Fatalf("second request: ids %v private %v, want [c] private", alone.ids, alone.private)
	}
	alone.reply <- json.RawMessage(`"result":{"read":1}`)
	first.reply <- json.RawMessage(`"result":{"read":1}`)
	next := recv(t, reads, "the queued shared read")
	if next.private || !slices.Equal(next.ids, []string{"b"}) {
		t.Fatalf("third request: ids %v private %v, want [b] shared", next.ids, next.private)
	}
	next.reply <- json.RawMessage(`"result":{"read":1}`)
	wg.Wait()
	for _, e := range []error{sharedErr, queuedErr, privateErr} {
		if e != nil {
			t.Fatal(e)
		}
	}
	if shared.Read != 1 || queued.Read != 1 || private.Read != 1 {
		t.Errorf("counts %d %d %d, want 1 each", shared.Read, queued.Read, private.Read)
	}
}
