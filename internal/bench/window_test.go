package bench_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/bench"
	"github.com/seen-im/seen/internal/seentest"
)

// TestGroupWindowKeepsSendsInFlight runs the group scenario with a sender
// that keeps several sends in flight and members that read through
// MarkRead: every message must be read by every member, exactly, and the
// report must say how many read acks a message.read carried, which it can
// only do if it read the server's count before the first read.
func TestGroupWindowKeepsSendsInFlight(t *testing.T) {
	srv := seentest.StartSingle(t, "the report's acks per request come from one node's /metrics")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const members, messages = 6, 12
	rep, err := bench.Group(ctx, bench.Options{
		URL:         srv.URL(),
		AdminKey:    seentest.AdminKey,
		TokenSecret: seentest.TokenSecret,
		Prefix:      "win",
		Timeout:     time.Minute,
	}, bench.GroupParams{Members: members, Messages: messages, Window: 4, MarkRead: true, Setup: true})
	if err != nil {
		t.Fatalf("bench.Group: %v", err)
	}
	if !rep.OK {
		t.Fatalf("report not OK: checks %+v, errors %v", rep.Checks, rep.Errors)
	}
	if got, want := rep.Throughput.Reads, int64((members-1)*messages); got != want {
		t.Errorf("reads: got %d, want %d", got, want)
	}
	if got := rep.Throughput.Sends; got != messages {
		t.Errorf("sends: got %d, want %d", got, messages)
	}
	found := false
	for _, n := range rep.Notes {
		found = found || strings.Contains(n, "read acks per request")
	}
	if !found {
		t.Errorf("no note on read acks per request in %q", rep.Notes)
	}
}
