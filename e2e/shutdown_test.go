package e2e

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/internal/store/faultstore"
	"github.com/seen-im/seen/protocol"
	"github.com/seen-im/seen/server"
)

// TestShutdownKeepsItsDeadlineWhenTheStoreStalls checks that Shutdown
// returns by the end of its context while the store stalls every write:
// with a receipt.changed pending (whose flush settles a receipt, a write)
// and an admin call stuck in the store. Once the store answers again,
// nothing the server started is left running.
func TestShutdownKeepsItsDeadlineWhenTheStoreStalls(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	faults := faultstore.New()
	defer faults.Heal() // let anything stalled go, even on failure
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Data = t.TempDir()
	cfg.AdminKey, cfg.TokenSecret = seentest.AdminKey, seentest.TokenSecret
	cfg.Receipts.Coalesce = time.Hour // the change stays pending until Shutdown
	srv, err := server.New(cfg, server.WithStoreHook(faults))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.Addr()
	admin := func(method, path string, body any) []byte {
		t.Helper()
		code, b := seentest.Admin(t, base, seentest.AdminKey, method, path, body)
		if code/100 != 2 {
			t.Fatalf("%s %s = %d %s", method, path, code, b)
		}
		return b
	}
	for _, u := range []string{"alice", "bob"} {
		admin("POST", "/v1/admin/users", map[string]string{"userId": u})
	}
	admin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "alice", "members": []string{"bob"}})
	admin("POST", "/v1/admin/messages", map[string]any{
		"from": "alice", "conversation": group("g"), "clientMsgId": "m1", "body": "read me", "receipt": true,
	})
	tok, _, err := srv.Tokens().Mint("bob", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bob := seentest.DialRaw(t, "ws://"+srv.Addr()+"/v1/ws")
	bob.Connect(tok, "")
	// bob reads it: the receipt is done, and its receipt.changed (which
	// settles it) waits for the window.
	bob.MustCall(protocol.MethodConversationRead, protocol.ConversationReadParams{Conversation: group("g"), Seq: 1}, nil)

	faults.StallWrites()
	stuck := make(chan struct{})
	go func() {
		defer close(stuck)
		// Its answer does not matter: it is cut off by the shutdown.
		_, _ = adminPost(srv.Addr(), "/v1/admin/users", `{"userId":"carol"}`)
	}()
	inflight := regexp.MustCompile(`(?m)^seen_store_inflight\{op="put_user"\} 1$`)
	seentest.Eventually(t, 10*time.Second, func() error {
		_, b := seentest.Admin(t, base, seentest.AdminKey, "GET", "/metrics", nil)
		if !inflight.Match(b) {
			return errors.New("the admin call is not stuck in the store yet")
		}
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	select {
	case err = <-done:
	case <-time.After(time.Minute): // a bound for a hang, far past the deadline
		t.Fatal("Shutdown did not return a minute after its one-second deadline")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	select {
	case <-stuck:
	case <-time.After(time.Minute):
		t.Fatal("the stuck admin call was not cut off by the shutdown")
	}
	bob.Close()
	// Whatever still waited on the store ends once it answers; goleak
	// (deferred) checks that nothing is left.
	faults.Heal()
	t.Logf("Shutdown: %v", err)
}

// TestEngineLoadErrorsAreCounted checks that a receipt engine that cannot
// be loaded is logged and counted even where the caller can only go on
// without it (the receipt.changed after a read that is already durable).
func TestEngineLoadErrorsAreCounted(t *testing.T) {
	s, faults := startFaulty(t)
	s.Users("alice", "bob")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "alice", "members": []string{"bob"}})
	s.MustAdmin("POST", "/v1/admin/messages", map[string]any{
		"from": "alice", "conversation": group("g"), "clientMsgId": "m1", "body": "x", "receipt": true,
	})
	s.Restart() // no engine loaded
	if v := metric(t, s, "seen_receipt_engine_load_errors_total"); v != "0" {
		t.Fatalf("seen_receipt_engine_load_errors_total = %q before any failure, want 0", v)
	}
	faults.FailOps("live_receipts")
	bob := connectRaw(t, s, "bob", "")
	// The read itself is durable and answered; only its receipt.changed
	// is lost, and that must show.
	bob.MustCall(protocol.MethodConversationRead, protocol.ConversationReadParams{Conversation: group("g"), Seq: 1}, nil)
	if v := metric(t, s, "seen_receipt_engine_load_errors_total"); v == "0" || v == "" {
		t.Errorf("seen_receipt_engine_load_errors_total = %q after a failed load, want at least 1", v)
	}
	faults.Heal()
}
