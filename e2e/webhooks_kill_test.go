package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// hookProcEnv makes a server process's webhooks quick to observe.
var hookProcEnv = []string{"SEEN_RECEIPTS_COALESCE=20ms", "SEEN_WEBHOOKS_RETRY_MIN=20ms", "SEEN_WEBHOOKS_RETRY_MAX=200ms",
	// A call cut by a kill is retried once its lease (2 x timeout + 5 s) runs out.
	"SEEN_WEBHOOKS_TIMEOUT=1s"}

// A server killed with SIGKILL between a read and its webhook, and
// between a delivery attempt and its acknowledgement, delivers every event
// after a restart (a duplicate only under the same id), and a
// remindAfterMs timer that fell due while it was down fires once it is
// back.
func TestWebhooksSurviveKill(t *testing.T) {
	dir, addr := t.TempDir(), seentest.FreeAddr(t)
	p := seentest.StartProc(t, dir, addr, hookProcEnv...)
	rcv := newAppServer(t)
	// Down at first: nothing the first process enqueues is delivered by it.
	rcv.setAnswer(func(hookCall) int { return http.StatusServiceUnavailable })
	rcv.register(func(method, path string, body any) []byte {
		code, b := p.Admin(method, path, body)
		if code/100 != 2 {
			t.Fatalf("%s %s = %d %s", method, path, code, b)
		}
		return b
	}, map[string]any{"events": allHookEvents, "thresholds": []int{50}})
	tokens := procGroup(t, p, "k", 3) // u0 sends; u1 and u2 read

	u0, err := dialProc(p.WSURL(), tokens["u0"])
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, err := u0.Send(ctx, protocol.SendParams{Conversation: group("k"), ClientMsgID: "m", Body: json.RawMessage(`"m"`), Receipt: true, RemindAfterMs: ptr[int64](1500)})
	if err != nil {
		t.Fatal(err)
	}
	u1, err := dialProc(p.WSURL(), tokens["u1"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u1.Read(ctx, protocol.ReadParams{Conversation: group("k"), MsgIDs: []string{m.MsgID}}); err != nil {
		t.Fatal(err)
	}
	p.Kill() // right after the read's answer: its webhook is at most enqueued
	u0.Close()
	u1.Close()
	time.Sleep(1600 * time.Millisecond) // the reminder falls due while the server is down

	rcv.setAnswer(func(hookCall) int { return http.StatusNoContent })
	p = seentest.StartProc(t, dir, addr, hookProcEnv...)
	got := rcv.waitFor("every event of m", 30*time.Second, func(ok []hookCall) bool {
		return len(ofType(ok, "message.sent")) == 1 && len(ofType(ok, "receipt.threshold", "first")) == 1 &&
			len(ofType(ok, "receipt.threshold", "50")) == 1 && len(ofType(ok, "receipt.unread_after")) == 1 &&
			len(ofType(ok, "receipt.read")) >= 1
	})
	if un := ofType(got, "receipt.unread_after")[0]; un.count("unreadCount") != 1 || un.data["msgId"] != m.MsgID {
		t.Errorf("unread_after after the restart: %s", un.body)
	}
	var readers []any
	for _, r := range ofType(got, "receipt.read") {
		l, _ := r.data["newReaders"].([]any)
		readers = append(readers, l...)
	}
	if len(readers) != 1 || readers[0] != "u1" {
		t.Errorf("receipt.read after the restart named %v, want u1 once", readers)
	}

	// Killed while a call is in flight: the call's answer never reaches the
	// server, so a restarted one calls again, under the same id.
	release := rcv.holdCalls()
	defer release()
	u0, err = dialProc(p.WSURL(), tokens["u0"])
	if err != nil {
		t.Fatal(err)
	}
	m2, err := u0.Send(ctx, protocol.SendParams{Conversation: group("k"), ClientMsgID: "m2", Body: json.RawMessage(`"m2"`), Receipt: true})
	if err != nil {
		t.Fatal(err)
	}
	u0.Close()
	var inFlight hookCall
	seentest.Eventually(t, 10*time.Second, func() error {
		for _, c := range rcv.arrivals() {
			if c.typ == "message.sent" && c.data["msgId"] == m2.MsgID {
				inFlight = c
				return nil
			}
		}
		return errors.New("m2's message.sent not yet in flight")
	})
	p.Kill()
	release()
	p = seentest.StartProc(t, dir, addr, hookProcEnv...)
	rcv.waitFor("m2's message.sent again", 60*time.Second, func(ok []hookCall) bool {
		n := 0
		for _, c := range ofType(ok, "message.sent") {
			if c.data["msgId"] == m2.MsgID {
				if c.id != inFlight.id {
					t.Errorf("m2's message.sent came again under id %s, first %s", c.id, inFlight.id)
				}
				n++
			}
		}
		return n >= 1 // the call the kill cut never completed: this is the redelivery
	})
	rcv.checkSigned()
	if err := p.Term(); err != nil {
		t.Fatalf("SIGTERM exit: %v", err)
	}
}
