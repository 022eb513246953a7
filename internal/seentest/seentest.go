// Package seentest starts real Seen servers for tests: in-process on a
// random loopback port with a temporary data directory, or as a child
// process of the built binary (for kill -9 tests).
package seentest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/server"
)

// AdminKey and TokenSecret are the fixed secrets of test servers.
const (
	AdminKey    = "test-admin-key-0123456789"
	TokenSecret = "test-token-secret-0123456789abcdef"
)

// Server is an in-process server under test.
type Server struct {
	*server.Server
	Cfg  config.Config
	opts []server.Option
	t    testing.TB
}

// Start runs a server with test defaults, changed by opts, and stops it
// when the test ends.
func Start(t testing.TB, opts ...func(*config.Config)) *Server {
	t.Helper()
	return StartWith(t, nil, opts...)
}

// StartWith is Start with server options (a store hook, say).
func StartWith(t testing.TB, serverOpts []server.Option, opts ...func(*config.Config)) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Data = t.TempDir()
	cfg.AdminKey = AdminKey
	cfg.TokenSecret = TokenSecret
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{Cfg: cfg, opts: serverOpts, t: t}
	s.start()
	t.Cleanup(func() { s.Stop() })
	return s
}

func (s *Server) start() {
	s.t.Helper()
	srv, err := server.New(s.Cfg, s.opts...)
	if err != nil {
		s.t.Fatalf("seentest: new server: %v", err)
	}
	if err := srv.Start(); err != nil {
		s.t.Fatalf("seentest: start: %v", err)
	}
	s.Server = srv
	// Later restarts reuse the address, so clients reconnect to it.
	s.Cfg.Listen = srv.Addr()
}

// Stop shuts the server down gracefully.
func (s *Server) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.Server.Shutdown(ctx); err != nil {
		s.t.Errorf("seentest: shutdown: %v", err)
	}
}

// Restart stops the server and starts a new one on the same data
// directory and address.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// RestartAfter stops the server, runs between (which may open the stopped
// server's data directory, s.Cfg.Data, to plant what an older version
// could have stored), and starts a new server on the same directory and
// address.
func (s *Server) RestartAfter(between func()) {
	s.t.Helper()
	s.Stop()
	between()
	s.start()
}

// URL is the server's HTTP base URL.
func (s *Server) URL() string { return "http://" + s.Addr() }

// WSURL is the client WebSocket URL.
func (s *Server) WSURL() string { return "ws://" + s.Addr() + "/v1/ws" }

// Token mints a one-hour token for userID.
func (s *Server) Token(userID string) string {
	s.t.Helper()
	tok, _, err := s.Tokens().Mint(userID, time.Hour)
	if err != nil {
		s.t.Fatalf("seentest: mint: %v", err)
	}
	return tok
}

// Admin calls the admin API and returns the status and body.
func (s *Server) Admin(method, path string, body any) (int, []byte) {
	s.t.Helper()
	return Admin(s.t, "http://"+s.AdminAddr(), AdminKey, method, path, body)
}

// MustAdmin calls the admin API and fails the test unless it answers 2xx.
func (s *Server) MustAdmin(method, path string, body any) []byte {
	s.t.Helper()
	code, b := s.Admin(method, path, body)
	if code/100 != 2 {
		s.t.Fatalf("seentest: %s %s = %d %s", method, path, code, b)
	}
	return b
}

// Users creates users through the admin API.
func (s *Server) Users(ids ...string) {
	s.t.Helper()
	for _, id := range ids {
		s.MustAdmin("POST", "/v1/admin/users", map[string]string{"userId": id})
	}
}

// Admin calls an admin API at base with key.
func Admin(t testing.TB, base, key, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("seentest: marshal: %v", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatalf("seentest: request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("seentest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// Eventually polls cond every step until it returns nil or wait passes,
// then fails the test with cond's last error.
func Eventually(t testing.TB, wait time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", wait, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
