package e2e

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// TestMarkReadWhileTheStoreStalls: an app marks 60 messages read with one
// call each while the first request is held up in the store; every call
// succeeds and every id is recorded exactly, on a real server. (That the
// calls share requests is shown deterministically in the client package's
// TestMarkReadSharesRequests, where the queue can be watched.)
func TestMarkReadWhileTheStoreStalls(t *testing.T) {
	s, faults := startFaulty(t)
	g := group("mr")
	devs := groupOf(t, s, g.ID, "owner", "bob", "carol")
	var ids []string
	for i := range 60 {
		ids = append(ids, devs["owner"].sendReceipt(g, "m"+strconv.Itoa(i)).MsgID)
	}
	bob := devs["bob"]
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	faults.StallWrites()
	wg.Add(1)
	go func() { defer wg.Done(); errs[0] = bob.MarkRead(ctx(t), g, ids[0]) }()
	awaitStalled(t, s, "ack_many")
	for i := 1; i < len(ids); i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = bob.MarkRead(ctx(t), g, ids[i]) }()
	}
	faults.Heal()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("MarkRead %s: %v", ids[i], err)
		}
	}
	for _, id := range ids {
		r := devs["owner"].receipt(g, id)
		if r.ReadCount != 1 || r.UnreadCount != 1 {
			t.Fatalf("%s: read %d unread %d, want 1 and 1", id, r.ReadCount, r.UnreadCount)
		}
	}

	// Marking again records nothing new and is no error.
	if err := bob.MarkRead(ctx(t), g, ids[0]); err != nil {
		t.Fatal(err)
	}
}

// TestMarkReadBadIDFailsAlone: on a real server, calls that may share a
// request get their own answers: a missing id 404, an own message 403, a
// good one none.
func TestMarkReadBadIDFailsAlone(t *testing.T) {
	s, faults := startFaulty(t)
	g := group("mrbad")
	devs := groupOf(t, s, g.ID, "owner", "bob", "carol")
	good := devs["owner"].sendReceipt(g, "good").MsgID
	own := devs["bob"].sendReceipt(g, "bob's own").MsgID
	bob := devs["bob"]

	faults.StallWrites()
	var wg sync.WaitGroup
	var first, goodErr, missingErr, ownErr error
	wg.Add(1)
	go func() { defer wg.Done(); first = bob.MarkRead(ctx(t), g, good) }()
	awaitStalled(t, s, "ack_many")
	wg.Add(3)
	go func() { defer wg.Done(); goodErr = bob.MarkRead(ctx(t), g, good) }()
	go func() { defer wg.Done(); missingErr = bob.MarkRead(ctx(t), g, "no-such-message") }()
	go func() { defer wg.Done(); ownErr = bob.MarkRead(ctx(t), g, own) }()
	faults.Heal()
	wg.Wait()
	if first != nil || goodErr != nil {
		t.Errorf("good id: %v, %v; want no error", first, goodErr)
	}
	if code(missingErr) != protocol.CodeNotFound {
		t.Errorf("missing id: %v, want %d", missingErr, protocol.CodeNotFound)
	}
	if code(ownErr) != protocol.CodeForbidden {
		t.Errorf("own message: %v, want %d", ownErr, protocol.CodeForbidden)
	}
	if r := devs["owner"].receipt(g, good); r.ReadCount != 1 {
		t.Errorf("good: read %d, want 1", r.ReadCount)
	}

	// A call whose context has ended while it queues returns that error.
	faults.StallWrites()
	wg.Add(1)
	go func() { defer wg.Done(); _ = devs["carol"].MarkRead(ctx(t), g, good) }()
	awaitStalled(t, s, "ack_many")
	c, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := devs["carol"].MarkRead(c, g, own); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("MarkRead with an ended context = %v, want DeadlineExceeded", err)
	}
	faults.Heal()
	wg.Wait()
}

// readRequests is how many message.read requests the server answered.
func readRequests(t testing.TB, s *seentest.Server) int {
	t.Helper()
	re := regexp.MustCompile(`(?m)^seen_requests_total\{code="\d+",method="message\.read"\} (\d+)$`)
	total := 0
	for _, text := range metrics(t, s) {
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			n, _ := strconv.Atoi(m[1])
			total += n
		}
	}
	return total
}

// awaitStalled waits until a store call of op is in progress.
func awaitStalled(t *testing.T, s *seentest.Server, op string) {
	t.Helper()
	seentest.Eventually(t, 10*time.Second, func() error {
		if storeInflight(t, s, op) == 0 {
			return errors.New("no " + op + " in progress")
		}
		return nil
	})
}

// storeInflight is how many store calls of op are in progress.
func storeInflight(t *testing.T, s *seentest.Server, op string) int {
	t.Helper()
	re := regexp.MustCompile(`(?m)^seen_store_inflight\{op="` + op + `"\} (\d+)$`)
	total := 0
	for _, text := range metrics(t, s) {
		if m := re.FindStringSubmatch(text); m != nil {
			n, _ := strconv.Atoi(m[1])
			total += n
		}
	}
	return total
}

// metrics reads every node's /metrics (served with the admin API and
// behind its key), one text per node: each node of a cluster exports its
// own (docs/cluster.md), so a figure of the whole server is their sum.
func metrics(t testing.TB, s *seentest.Server) []string {
	t.Helper()
	var texts []string
	for _, n := range s.Nodes() {
		code, b := n.Admin("GET", "/metrics", nil)
		if code != http.StatusOK {
			t.Fatalf("GET /metrics = %d %s", code, b)
		}
		texts = append(texts, string(b))
	}
	return texts
}
