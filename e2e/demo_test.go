package e2e

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
	"github.com/seen-im/seen/server"
)

// demoToken asks POST /v1/demo/token for userID with extra headers.
func demoToken(t *testing.T, s *seentest.Server, userID string, header http.Header) (int, []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"userId": userID})
	req, err := http.NewRequest("POST", s.URL()+"/v1/demo/token", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func demoOn(c *config.Config) { c.Demo = "on" }

// TestDemoTokensOnlyForDemoUsers checks that the demo mints tokens only for
// users it created itself: behind a reverse proxy on the same host, the
// loopback listener made it a way to become any existing user.
func TestDemoTokensOnlyForDemoUsers(t *testing.T) {
	s := seentest.Start(t, demoOn)
	// Users the app made (admin API) or that connected with a real token.
	s.Users("alice")
	connectRaw(t, s, "bob", "")
	for _, u := range []string{"alice", "bob"} {
		code, body := demoToken(t, s, u, nil)
		wantAdminError(t, code, body, http.StatusForbidden, protocol.CodeForbidden, "userId")
	}
	// A name the demo creates gets a token, again and again (a reload of
	// the page), and the token works.
	for range 2 {
		code, body := demoToken(t, s, "visitor", nil)
		if code != http.StatusOK {
			t.Fatalf("demo token for a new name = %d %s, want 200", code, body)
		}
		var res struct {
			Token  string `json:"token"`
			UserID string `json:"userId"`
		}
		if err := json.Unmarshal(body, &res); err != nil || res.UserID != "visitor" {
			t.Fatalf("demo token body %s, want userId visitor (%v)", body, err)
		}
		r := seentest.DialRaw(t, s.WSURL())
		if got := r.Connect(res.Token, ""); got.UserID != "visitor" {
			t.Fatalf("connect with the demo token = %+v, want visitor", got)
		}
	}
	// The mark survives a restart: it is in the user's record.
	s.Restart()
	if code, body := demoToken(t, s, "visitor", nil); code != http.StatusOK {
		t.Errorf("demo token for visitor after a restart = %d %s, want 200", code, body)
	}
	if code, body := demoToken(t, s, "alice", nil); code != http.StatusForbidden {
		t.Errorf("demo token for alice after a restart = %d %s, want 403", code, body)
	}
}

// TestDemoOffThroughAProxy checks that a request that came through a
// reverse proxy never gets a demo token, even for a demo user: the
// loopback listener says nothing about who is on the other side of it.
func TestDemoOffThroughAProxy(t *testing.T) {
	s := seentest.Start(t, demoOn)
	if code, body := demoToken(t, s, "visitor", nil); code != http.StatusOK {
		t.Fatalf("demo token without a proxy = %d %s, want 200", code, body)
	}
	for _, h := range []http.Header{
		{"Forwarded": {"for=203.0.113.7;proto=https"}},
		{"X-Forwarded-For": {"203.0.113.7"}},
		{"X-Real-Ip": {"203.0.113.7"}},
		{"X-Forwarded-For": {""}}, // present, even empty, is a proxy
	} {
		for _, u := range []string{"visitor", "newcomer"} {
			code, body := demoToken(t, s, u, h)
			if code != http.StatusForbidden {
				t.Errorf("demo token for %s with %v = %d %s, want 403", u, h, code, body)
			}
		}
	}
	// newcomer was not created by the refused requests.
	if code, body := s.Admin("POST", "/v1/admin/users", map[string]string{"userId": "newcomer"}); code != http.StatusCreated {
		t.Errorf("POST users newcomer = %d %s, want 201: a refused demo request created it", code, body)
	}
}

// TestDemoOff checks that the endpoint does not exist when the demo is
// off.
func TestDemoOff(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) { c.Demo = "off" })
	if code, body := demoToken(t, s, "visitor", nil); code == http.StatusOK {
		t.Errorf("demo token with SEEN_DEMO=off = %d %s, want an error", code, body)
	}
}

// lockedBuffer is a log sink the server may write to while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDemoWarnsAtStart checks that an operator is told, at warn level, that
// demo tokens are on, and hears nothing of them when they are off.
func TestDemoWarnsAtStart(t *testing.T) {
	for _, mode := range []string{"on", "auto", "off"} {
		t.Run(mode, func(t *testing.T) {
			var logs lockedBuffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
			seentest.StartWith(t, []server.Option{server.WithLogger(log)}, func(c *config.Config) { c.Demo = mode })
			warned := strings.Contains(logs.String(), `level=WARN msg="demo tokens are ON`)
			// The test servers listen on loopback, so auto is on.
			if want := mode != "off"; warned != want {
				t.Errorf("SEEN_DEMO=%s: warned = %v, want %v; log:\n%s", mode, warned, want, logs.String())
			}
		})
	}
}
