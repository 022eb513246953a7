package service

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/protocol"
)

// A body with bytes that are not UTF-8 is refused by Send itself, whoever
// calls it (the client transport refuses the frame earlier; the admin API
// does not parse frames), and nothing changes.
func TestSendRefusesInvalidUTF8Body(t *testing.T) {
	w := newFuzzWorld(t, t.TempDir(), false)
	defer w.close()
	before := w.snapshot(t)
	for _, body := range []string{
		"\"\xff\"",
		"{\"text\":\"caf\xe9\"}",
		"[\"ok\",{\"\xc3\x28\":1}]",
		"\"\xed\xa0\x80\"", // a UTF-16 surrogate, not allowed in UTF-8
	} {
		_, err := w.svc.Send(context.Background(), Caller{UserID: "o", ConnID: "c", Device: "d"}, protocol.SendParams{
			Conversation: protocol.Conversation{Type: protocol.ConvGroup, ID: "g"},
			ClientMsgID:  "bad-utf8", Body: json.RawMessage(body),
		})
		pe, ok := err.(*protocol.Error)
		if !ok || pe.Code != protocol.CodeInvalidParams || pe.Data["field"] != "body" {
			t.Fatalf("Send with body %q = %v, want -32602 with data.field body", body, err)
		}
	}
	if after := w.snapshot(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("refused sends changed state (-before +after):\n%s", cmp.Diff(before, after))
	}
}
