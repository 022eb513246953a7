package service

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/seen-im/seen/protocol"
)

// TestReadCountsRepeatedIDsOnce: an id named more than once in one
// message.read is read once, whether the request is small enough for
// Read to find repeats by a scan (up to smallRead ids) or large enough
// for a map.
func TestReadCountsRepeatedIDsOnce(t *testing.T) {
	ctx := context.Background()
	svc := newLocalService(t, "s", "r")
	as := func(u string) Caller { return Caller{UserID: u, ConnID: u + "-conn"} }
	for _, tc := range []struct {
		name     string
		distinct int
		repeats  int // of the first id, appended at the end
	}{
		{"one id twice", 1, 1},
		{"a scan", 3, 2},
		{"at the scan's limit", smallRead - 1, 1},
		{"a map", smallRead + 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := protocol.Conversation{Type: protocol.ConvGroup, ID: fmt.Sprintf("g%d-%d", tc.distinct, tc.repeats)}
			if _, err := svc.CreateGroup(ctx, "s", protocol.GroupCreateParams{GroupID: g.ID, Members: []string{"r"}}); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for i := range tc.distinct {
				m, err := svc.Send(ctx, as("s"), protocol.SendParams{Conversation: g, ClientMsgID: fmt.Sprintf("%s-%d", g.ID, i), Body: json.RawMessage(`"hi"`), Receipt: true})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, m.MsgID)
			}
			// Read in reverse, so most acks are out of order and kept
			// singly: a repeat counted twice would show in the result.
			var req []string
			for i := len(ids) - 1; i >= 0; i-- {
				req = append(req, ids[i])
			}
			for range tc.repeats {
				req = append(req, ids[0])
			}
			r, err := svc.Read(ctx, as("r"), protocol.ReadParams{Conversation: g, MsgIDs: req})
			if err != nil || r.Read != tc.distinct {
				t.Fatalf("message.read of %d ids, %d distinct = %+v, %v; want %d read", len(req), tc.distinct, r, err, tc.distinct)
			}
			r, err = svc.Read(ctx, as("r"), protocol.ReadParams{Conversation: g, MsgIDs: req})
			if err != nil || r.Read != 0 {
				t.Fatalf("the same message.read again = %+v, %v; want 0 read", r, err)
			}
		})
	}
}
