package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/seentest"
)

// hookCall is one request a receiver got.
type hookCall struct {
	id, timestamp, signature string
	body                     []byte
	status                   int // what the receiver answered
	typ                      string
	data                     map[string]any
}

// threshold is the call's data.threshold as a string ("first", "50").
func (c hookCall) threshold() string { return fmt.Sprint(c.data["threshold"]) }

// readCount is the call's data.receipt.readCount.
func (c hookCall) count(field string) int {
	r, _ := c.data["receipt"].(map[string]any)
	n, _ := r[field].(float64)
	return int(n)
}

// appServer is an app server on loopback that records every webhook
// call and checks its Standard Webhooks signature with code of its own
// (not Seen's), as a receiver using any library would.
type appServer struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	secret  string               // guarded by mu; set once registered
	answer  func(c hookCall) int // guarded by mu; the status to answer
	calls   []hookCall           // guarded by mu; answered
	arrived []hookCall           // guarded by mu; every call as it came in, answered or not
	hold    chan struct{}        // guarded by mu; non-nil: calls wait on it
	bad     []string             // guarded by mu; signature failures
	notify  chan struct{}        // a call arrived
}

// holdCalls makes calls wait until the returned func is called.
func (r *appServer) holdCalls() (release func()) {
	ch := make(chan struct{})
	r.mu.Lock()
	r.hold = ch
	r.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			r.hold = nil
			r.mu.Unlock()
			close(ch)
		})
	}
}

// arrivals lists every call as it came in, answered or not.
func (r *appServer) arrivals() []hookCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookCall(nil), r.arrived...)
}

func newAppServer(t *testing.T) *appServer {
	r := &appServer{t: t, notify: make(chan struct{}, 1),
		answer: func(hookCall) int { return http.StatusNoContent }}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *appServer) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	c := hookCall{id: req.Header.Get("webhook-id"), timestamp: req.Header.Get("webhook-timestamp"),
		signature: req.Header.Get("webhook-signature"), body: body}
	var env struct {
		Type      string         `json:"type"`
		Timestamp string         `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}
	_ = json.Unmarshal(body, &env)
	c.typ, c.data = env.Type, env.Data
	r.mu.Lock()
	hold, secret, answer := r.hold, r.secret, r.answer
	r.arrived = append(r.arrived, c)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	if hold != nil {
		select {
		case <-hold:
		case <-req.Context().Done():
			return
		}
	}
	if err := verifyHook(secret, c.id, c.timestamp, c.signature, body); err != nil {
		r.mu.Lock()
		r.bad = append(r.bad, fmt.Sprintf("%s %s: %v", c.typ, c.id, err))
		r.mu.Unlock()
	}
	if _, err := time.Parse(time.RFC3339, env.Timestamp); err != nil {
		r.mu.Lock()
		r.bad = append(r.bad, fmt.Sprintf("%s %s: timestamp %q: %v", c.typ, c.id, env.Timestamp, err))
		r.mu.Unlock()
	}
	c.status = answer(c)
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	w.WriteHeader(c.status)
}

// verifyHook checks a Standard Webhooks signature: HMAC-SHA256 with the
// base64 key after "whsec_" over "id.timestamp.body", base64, "v1,"
// prefixed; the header may carry several, space separated.
func verifyHook(secret, id, ts, header string, body []byte) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || !strings.HasPrefix(secret, "whsec_") {
		return fmt.Errorf("bad secret %q", secret)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.", id, ts)
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(header) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("no valid signature in %q", header)
}

// register adds the receiver as an endpoint through the admin API.
func (r *appServer) register(admin func(method, path string, body any) []byte, spec map[string]any) string {
	r.t.Helper()
	spec["url"] = r.srv.URL + "/hooks"
	var res struct{ ID, Secret string }
	if err := json.Unmarshal(admin("POST", "/v1/admin/webhooks", spec), &res); err != nil || res.ID == "" || res.Secret == "" {
		r.t.Fatalf("register webhook: %+v, %v", res, err)
	}
	r.mu.Lock()
	r.secret = res.Secret
	r.mu.Unlock()
	return res.ID
}

// setAnswer sets how the receiver answers from now on.
func (r *appServer) setAnswer(f func(c hookCall) int) {
	r.mu.Lock()
	r.answer = f
	r.mu.Unlock()
}

// ok lists the calls answered 2xx.
func (r *appServer) ok() []hookCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []hookCall
	for _, c := range r.calls {
		if c.status/100 == 2 {
			out = append(out, c)
		}
	}
	return out
}

// all lists every call.
func (r *appServer) all() []hookCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookCall(nil), r.calls...)
}

// waitFor polls until pred holds over the calls answered 2xx.
func (r *appServer) waitFor(what string, within time.Duration, pred func(ok []hookCall) bool) []hookCall {
	r.t.Helper()
	var got []hookCall
	seentest.Eventually(r.t, within, func() error {
		got = r.ok()
		if pred(got) {
			return nil
		}
		return fmt.Errorf("%s: not yet (%d calls answered 2xx: %s)", what, len(got), summary(got))
	})
	return got
}

// checkSigned fails the test if any call's signature or timestamp did not
// verify.
func (r *appServer) checkSigned() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.bad {
		r.t.Errorf("webhook call failed verification: %s", b)
	}
}

// summary names calls briefly for failure messages.
func summary(cs []hookCall) string {
	var parts []string
	for i, c := range cs {
		if i == 12 {
			parts = append(parts, fmt.Sprintf("... %d more", len(cs)-i))
			break
		}
		s := c.typ
		if c.typ == "receipt.threshold" {
			s += ":" + c.threshold()
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// ofType keeps the calls of one type (and one threshold, if given).
func ofType(cs []hookCall, typ string, threshold ...string) []hookCall {
	var out []hookCall
	for _, c := range cs {
		if c.typ == typ && (len(threshold) == 0 || c.threshold() == threshold[0]) {
			out = append(out, c)
		}
	}
	return out
}

// distinctIDs counts the distinct event ids among cs.
func distinctIDs(cs []hookCall) int {
	ids := map[string]bool{}
	for _, c := range cs {
		ids[c.id] = true
	}
	return len(ids)
}
