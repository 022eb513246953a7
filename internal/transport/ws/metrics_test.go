package ws

import (
	"strings"
	"testing"

	"github.com/coder/websocket"
	dto "github.com/prometheus/client_model/go"

	"github.com/seen-im/seen/internal/auth"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/metrics"
)

// requestSeries reads, from reg, seen_requests_total for method and code,
// and the count of seen_request_duration_seconds for method.
func requestSeries(t *testing.T, m *metrics.Metrics, method, code string) (count, durations uint64) {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	label := func(mt *dto.Metric, name string) string {
		for _, l := range mt.GetLabel() {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
		return ""
	}
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			switch {
			case f.GetName() == "seen_requests_total" && label(mt, "method") == method && label(mt, "code") == code:
				count = uint64(mt.GetCounter().GetValue())
			case f.GetName() == "seen_request_duration_seconds" && label(mt, "method") == method:
				durations = mt.GetHistogram().GetSampleCount()
			}
		}
	}
	return count, durations
}

// The acks' instruments are kept apart from the other methods' (no map
// lookup per request), under the same series: each request is counted
// once under its method and code, its duration observed once, whether the
// reader or a worker runs it, and other methods as before.
func TestRequestMetricsByMethod(t *testing.T) {
	w := newFrameWorld(t, t.TempDir())
	defer w.close()
	cfg := config.Default()
	tokens := auth.New("test-token-secret-0123456789abcdef", nil)
	m := metrics.New()
	h := New(Options{Service: w.svc, Tokens: tokens, Bus: w.bus, Config: cfg, Metrics: m})
	url := inlineServer(t, h)

	c := connectAs(t, url, tokens, "a")
	const acks = 5
	for i := range acks {
		call(t, c, i+1, "conversation.read", `{"conversation":{"type":"peer","id":"b"}}`)
	}
	call(t, c, 10, "conversation.list", `{}`)
	// A refused ack is counted under its code; the request's duration
	// is observed all the same.
	ctx := t.Context()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"jsonrpc":"2.0","id":11,"method":"conversation.read","params":{"conversation":{"type":"peer","id":""}}}`)); err != nil {
		t.Fatal(err)
	}
	if _, b, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	} else if want := `"code":-32602`; !strings.Contains(string(b), want) {
		t.Fatalf("a conversation.read with no peer: %s, want %s", b, want)
	}
	if n, d := requestSeries(t, m, "conversation.read", "0"); n != acks || d != acks+1 {
		t.Errorf("conversation.read: %d counted with code 0, %d durations; want %d and %d", n, d, acks, acks+1)
	}
	if n, _ := requestSeries(t, m, "conversation.read", "-32602"); n != 1 {
		t.Errorf("conversation.read: %d counted with code -32602, want 1", n)
	}
	if n, d := requestSeries(t, m, "conversation.list", "0"); n != 1 || d != 1 {
		t.Errorf("conversation.list: %d counted, %d durations; want 1 and 1", n, d)
	}
}
