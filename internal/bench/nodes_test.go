package bench_test

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/bench"
	"github.com/seen-im/seen/internal/seentest"
)

// TestGroupOverTwoNodes runs the group scenario with --url naming both
// nodes of a cluster: every member's reads must reach the sender across
// the bus, and each node must have answered some of them, which it only
// does if the bench spread its sockets over both.
func TestGroupOverTwoNodes(t *testing.T) {
	pg := seentest.PostgresDB(t)
	nats := seentest.StartNATS(t)
	const why = "the test builds its own two-node cluster"
	n1 := seentest.StartSingle(t, why, seentest.Cluster(pg, nats.URL()))
	n2 := seentest.StartSingle(t, why, seentest.Cluster(pg, nats.URL()))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := bench.Group(ctx, bench.Options{
		URL:         n1.URL() + "," + n2.URL(),
		AdminKey:    seentest.AdminKey,
		TokenSecret: seentest.TokenSecret,
		Prefix:      "two",
		SourceIPs:   2,
		Timeout:     time.Minute,
	}, bench.GroupParams{Members: 10, Messages: 3, Setup: true})
	if err != nil {
		t.Fatalf("bench.Group: %v", err)
	}
	if !rep.OK {
		t.Fatalf("report not OK: checks %+v, errors %v", rep.Checks, rep.Errors)
	}
	if got, want := rep.Throughput.Reads, int64(9*3); got != want {
		t.Errorf("reads: got %d, want %d", got, want)
	}
	for i, n := range []*seentest.Server{n1, n2} {
		if got := readsAnswered(t, n.URL()); got == 0 {
			t.Errorf("node %d answered no message.read: the bench's sockets did not reach it", i+1)
		}
	}
}

// TestURLListRefused checks that a list with a malformed entry is refused
// before anything is dialled.
func TestURLListRefused(t *testing.T) {
	for _, u := range []string{"", " , ", "http://127.0.0.1:1,ftp://x", "http://127.0.0.1:1,127.0.0.1:2"} {
		_, err := bench.Group(context.Background(), bench.Options{URL: u, TokenSecret: "x"}, bench.GroupParams{Members: 2})
		if err == nil || !strings.Contains(err.Error(), "--url") {
			t.Errorf("--url %q: got %v, want an error naming --url", u, err)
		}
	}
}

// readsAnswered is the node's count of answered message.read requests,
// from its /metrics.
func readsAnswered(t *testing.T, base string) int64 {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+seentest.AdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	var n int64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "seen_requests_total{") || !strings.Contains(line, `method="message.read"`) {
			continue
		}
		_, v, _ := strings.Cut(line, "} ")
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		n += int64(f)
	}
	return n
}
