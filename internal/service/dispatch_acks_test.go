package service

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/seen-im/seen/protocol"
)

// TestDispatchReachesEachAck: the acks' handlers, found by comparing the
// method rather than in the handlers' map, are each their own method's:
// each refuses params with no conversation as its method does, and an
// unknown method is still not found.
func TestDispatchReachesEachAck(t *testing.T) {
	svc := newLocalService(t)
	ctx := context.Background()
	c := Caller{UserID: "u", ConnID: "u-conn"}
	// Params each ack answers in its own way (message.read refuses the
	// empty msgIds, the others look for a peer that is not there).
	raw := json.RawMessage(`{"conversation":{"type":"peer","id":"nobody"},"msgIds":[],"seq":0}`)
	answer := func(_ any, err error) string { return fmt.Sprint(err) } // Dispatch answers no result with an error
	seen := map[string]string{}
	for _, method := range []string{protocol.MethodMessageRead, protocol.MethodMessageDelivered, protocol.MethodConversationRead} {
		if !svc.Known(method) {
			t.Errorf("%s: not known", method)
		}
		want := answer(svc.handlers[method](ctx, c, raw))
		res, pe := svc.Dispatch(ctx, c, method, raw)
		var err error
		if pe != nil {
			err = pe
		}
		if got := answer(res, err); got != want {
			t.Errorf("%s through Dispatch: %s; through its map entry: %s", method, got, want)
		}
		if other, ok := seen[want]; ok {
			t.Fatalf("%s and %s answer alike (%s): the test cannot tell them apart", method, other, want)
		}
		seen[want] = method
	}
	if _, pe := svc.Dispatch(ctx, c, "message.nope", nil); pe == nil || pe.Code != protocol.CodeMethodNotFound {
		t.Errorf("an unknown method: %v, want %d", pe, protocol.CodeMethodNotFound)
	}
}
