package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seen-im/seen/admin"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/protocol"
)

func TestWebhookEndpoints(t *testing.T) {
	_, a := start(t)
	ctx := ctxT(t)
	h1, err := a.CreateWebhook(ctx, protocol.WebhookCreateParams{URL: "http://127.0.0.1:9/a", Events: []string{"receipt.threshold"}, Thresholds: []int{90}})
	if err != nil {
		t.Fatal(err)
	}
	// nil thresholds take the default, an empty list none.
	h2, err := a.CreateWebhook(ctx, protocol.WebhookCreateParams{URL: "https://example.com/b", Events: []string{"receipt.threshold"}})
	if err != nil {
		t.Fatal(err)
	}
	h3, err := a.CreateWebhook(ctx, protocol.WebhookCreateParams{URL: "https://example.com/c", Events: []string{"receipt.threshold"}, Thresholds: []int{}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h1.Secret, "whsec_") || h1.Secret == h2.Secret {
		t.Fatalf("secrets %q %q: want two different whsec_ secrets", h1.Secret, h2.Secret)
	}
	list, err := a.Webhooks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(len(list), list[0].ID == h1.ID, list[0].Thresholds, list[1].Thresholds, list[2].Thresholds)
	if want := "3 true [90] [50] []"; got != want {
		t.Fatalf("Webhooks = %+v (%s), want %s", list, got, want)
	}
	if err := a.DeleteWebhook(ctx, h2.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, a.DeleteWebhook(ctx, h2.ID), protocol.CodeNotFound)
	if list, _ := a.Webhooks(ctx); len(list) != 2 || list[1].ID != h3.ID {
		t.Fatalf("after delete: %+v", list)
	}
	pe := wantCode(t, func() error {
		_, err := a.CreateWebhook(ctx, protocol.WebhookCreateParams{URL: "ftp://example.com/", Events: []string{"receipt.read"}})
		return err
	}(), protocol.CodeInvalidParams)
	if pe.Data["field"] != "url" {
		t.Fatalf("bad url: data.field = %v, want url", pe.Data["field"])
	}
	_, err = a.Deliveries(ctx, h2.ID, "", "", 0)
	wantCode(t, err, protocol.CodeNotFound)
	_, err = a.ReplayDelivery(ctx, h1.ID, "nope")
	wantCode(t, err, protocol.CodeNotFound)
}

// Deliveries are planted in the stopped server's store (the events that
// enqueue them are another part's), then listed and replayed through the
// SDK over HTTP. None is due, so no delivery loop changes them meanwhile.
func TestWebhookDeliveriesAndReplay(t *testing.T) {
	s := seentest.StartSingle(t, "plants deliveries in the node's data directory")
	a := admin.New("http://"+s.AdminAddr(), seentest.AdminKey)
	ctx := ctxT(t)
	h, err := a.CreateWebhook(ctx, protocol.WebhookCreateParams{URL: "http://127.0.0.1:9/", Events: []string{"message.sent"}})
	if err != nil {
		t.Fatal(err)
	}
	const later = int64(1) << 50 // Unix ms far ahead: never due
	// Created now: a replayed delivery whose attempt fails is dead at once
	// if it is older than the age limit (24 h).
	created := time.Now().UnixMilli()
	var planted []store.Delivery
	for i := range 5 {
		d := store.Delivery{Endpoint: h.ID, EventID: fmt.Sprintf("sent_m%d", i), Type: "message.sent",
			Payload: json.RawMessage(fmt.Sprintf(`{"type":"message.sent","timestamp":"2026-11-30T09:00:00Z","data":{"msgId":"m%d"}}`, i)),
			State:   store.DeliveryPending, NextAt: later, CreatedAt: created, UpdatedAt: created}
		if i >= 2 {
			d.State, d.Attempts, d.LastError = store.DeliveryDead, 8, "503 Service Unavailable"
		} else if i == 1 {
			d.Attempts, d.LastError = 2, "timeout"
		}
		planted = append(planted, d)
	}
	s.RestartAfter(func() {
		st, err := pebblestore.Open(filepath.Join(s.Cfg.Data, "store"), pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.Enqueue(context.Background(), planted); err != nil {
			t.Fatal(err)
		}
		for _, d := range planted[1:] {
			if err := st.FinishDelivery(context.Background(), d); err != nil {
				t.Fatal(err)
			}
		}
	})
	a = admin.New("http://"+s.AdminAddr(), seentest.AdminKey)

	var dead []string
	cursor := ""
	for {
		res, err := a.Deliveries(ctx, h.ID, protocol.DeliveryDead, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range res.Deliveries {
			dead = append(dead, d.EventID)
			if d.State != "dead" || d.Attempts != 8 || d.LastError != "503 Service Unavailable" || d.Type != "message.sent" {
				t.Errorf("dead delivery %+v", d)
			}
		}
		if res.NextCursor == "" {
			break
		}
		cursor = res.NextCursor
	}
	if want := []string{"sent_m2", "sent_m3", "sent_m4"}; !slices.Equal(dead, want) {
		t.Fatalf("dead deliveries %v, want %v", dead, want)
	}
	failed, err := a.Deliveries(ctx, h.ID, protocol.DeliveryFailed, "", 0)
	if err != nil || len(failed.Deliveries) != 1 || failed.Deliveries[0].EventID != "sent_m1" {
		t.Fatalf("failed = %+v, %v; want sent_m1 only", failed, err)
	}
	all, err := a.Deliveries(ctx, h.ID, "", "", 0)
	if err != nil || len(all.Deliveries) != 5 || string(all.Deliveries[0].Payload) != string(planted[0].Payload) {
		t.Fatalf("all = %+v, %v; want the 5 planted, payload as stored", all, err)
	}

	r, err := a.ReplayDelivery(ctx, h.ID, "sent_m3")
	if err != nil {
		t.Fatal(err)
	}
	if r.EventID != "sent_m3" || r.State != "pending" || r.Attempts != 0 || r.NextAt >= later {
		t.Fatalf("replayed = %+v, want pending, no attempts, due now", r)
	}
	// The delivery loop may take it at once; what must hold is that it
	// is no longer dead.
	res, err := a.Deliveries(ctx, h.ID, protocol.DeliveryDead, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range res.Deliveries {
		if d.EventID == "sent_m3" {
			t.Fatalf("sent_m3 is still dead after its replay")
		}
	}
}
