package service

import (
	"encoding/json"
	"testing"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/protocol"
)

// Each endpoint gets the events it asked for, in the conversations it
// asked for, and one encoding of an event serves them all.
func TestHookDeliveriesRouteByEndpoint(t *testing.T) {
	eps := []store.Webhook{
		{ID: "all", Events: HookEventTypes, Thresholds: []int{50}, AllMessages: true},
		{ID: "work", Events: []string{HookThreshold, HookMessageSent}, Thresholds: []int{90}, GroupTypes: []string{"work"}},
		{ID: "reads", Events: []string{HookReceiptRead}},
	}
	work, fun, peer := store.GroupConv("w"), store.GroupConv("f"), store.PeerConv("a", "b")
	cases := []struct {
		ev   hookEvent
		want []string
	}{
		{hookEvent{typ: HookMessageSent, conv: work, groupType: "work", receiptMsg: true}, []string{"all", "work"}},
		{hookEvent{typ: HookMessageSent, conv: work, groupType: "work"}, []string{"all"}}, // no receipts: AllMessages only
		{hookEvent{typ: HookMessageSent, conv: peer, receiptMsg: true}, []string{"all"}},  // a group-type filter passes no peer
		{hookEvent{typ: HookThreshold, conv: work, groupType: "work", threshold: "50"}, []string{"all"}},
		{hookEvent{typ: HookThreshold, conv: work, groupType: "work", threshold: "90"}, []string{"work"}},
		{hookEvent{typ: HookThreshold, conv: fun, groupType: "fun", threshold: ThresholdAll}, []string{"all"}},
		{hookEvent{typ: HookThreshold, conv: work, groupType: "work", threshold: ThresholdFirst}, []string{"all", "work"}},
		{hookEvent{typ: HookReceiptRead, conv: fun, groupType: "fun"}, []string{"all", "reads"}},
	}
	for i, c := range cases {
		c.ev.id, c.ev.at = "e", 1_700_000_000_123
		c.ev.data = hookData{Conversation: protocol.Conversation{Type: "group", ID: "w"}, MsgID: "m", Sender: "a"}
		ds, err := hookDeliveries(eps, c.ev, 5)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range ds {
			got = append(got, d.Endpoint)
			if d.EventID != "e" || d.State != store.DeliveryPending || d.NextAt != 5 || string(d.Payload) != string(ds[0].Payload) {
				t.Errorf("case %d: delivery %+v", i, d)
			}
		}
		if len(got) != len(c.want) || (len(got) > 0 && got[0] != c.want[0]) || (len(got) > 1 && got[1] != c.want[1]) {
			t.Errorf("case %d (%s %s): endpoints %v, want %v", i, c.ev.typ, c.ev.threshold, got, c.want)
		}
	}
}

// The body is the Standard Webhooks envelope with an RFC 3339 timestamp,
// and a threshold that is a percentage is a number.
func TestHookEnvelope(t *testing.T) {
	ev := hookEvent{id: hookEventID(HookThreshold, "m1", "50"), typ: HookThreshold, conv: store.GroupConv("g"), threshold: "50", at: 1_700_000_000_123,
		data: hookData{Conversation: protocol.Conversation{Type: "group", ID: "g"}, MsgID: "m1", Sender: "a", Threshold: thresholdValue("50"),
			Receipt: &protocol.Receipt{MsgID: "m1", Status: "sent", ReadCount: 5, UnreadCount: 5}}}
	ds, err := hookDeliveries([]store.Webhook{{ID: "x", Events: []string{HookThreshold}, Thresholds: []int{50}}}, ev, 1)
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries %v, %v", ds, err)
	}
	var body map[string]any
	if err := json.Unmarshal(ds[0].Payload, &body); err != nil {
		t.Fatal(err)
	}
	data := body["data"].(map[string]any)
	if body["type"] != HookThreshold || body["timestamp"] != "2023-11-14T22:13:20.123Z" || data["threshold"] != 50.0 || ds[0].EventID != "thr_m1_50" {
		t.Errorf("body %s, id %s", ds[0].Payload, ds[0].EventID)
	}
}
