package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// The webhook endpoints of the admin API (docs/webhooks.md), over real
// HTTP: create, list, delete, and the deliveries of an endpoint.

func listWebhooks(t *testing.T, s *seentest.Server) []protocol.Webhook {
	t.Helper()
	return decode[protocol.WebhookListResult](t, s.MustAdmin(http.MethodGet, "/v1/admin/webhooks", nil)).Webhooks
}

func TestWebhookAdminCRUD(t *testing.T) {
	s := seentest.Start(t)
	if got := listWebhooks(t, s); len(got) != 0 {
		t.Fatalf("a new server lists %v, want no webhooks", got)
	}

	code, body := s.Admin(http.MethodPost, "/v1/admin/webhooks", map[string]any{
		"url": "http://127.0.0.1:9/hooks", "events": []string{"receipt.threshold", "message.sent"},
		"thresholds": []int{90, 25}, "groupTypes": []string{"work"}, "allMessages": true,
	})
	if code != http.StatusCreated {
		t.Fatalf("create = %d %s, want 201", code, body)
	}
	a := decode[protocol.WebhookCreateResult](t, body)
	if !strings.HasPrefix(a.ID, "wh_") || !strings.HasPrefix(a.Secret, "whsec_") || len(a.Secret) < len("whsec_")+32 {
		t.Fatalf("create = %s, want an id wh_... and a secret whsec_ + base64", body)
	}
	// Thresholds left out take the default; an empty list is kept empty.
	b := decode[protocol.WebhookCreateResult](t, s.MustAdmin(http.MethodPost, "/v1/admin/webhooks",
		`{"url":"https://hooks.example.com:8443/seen?k=1","events":["receipt.read"]}`))
	c := decode[protocol.WebhookCreateResult](t, s.MustAdmin(http.MethodPost, "/v1/admin/webhooks",
		`{"url":"http://localhost/x","events":["receipt.threshold"],"thresholds":[]}`))
	if a.Secret == b.Secret || a.ID == b.ID {
		t.Fatalf("two endpoints share id or secret: %+v %+v", a, b)
	}

	raw := s.MustAdmin(http.MethodGet, "/v1/admin/webhooks", nil)
	if strings.Contains(string(raw), "whsec_") || strings.Contains(string(raw), `"secret"`) {
		t.Fatalf("the list shows a secret: %s", raw)
	}
	want := []protocol.Webhook{
		{ID: a.ID, URL: "http://127.0.0.1:9/hooks", Events: []string{"receipt.threshold", "message.sent"}, Thresholds: []int{90, 25}, GroupTypes: []string{"work"}, AllMessages: true},
		{ID: b.ID, URL: "https://hooks.example.com:8443/seen?k=1", Events: []string{"receipt.read"}, Thresholds: []int{50}},
		{ID: c.ID, URL: "http://localhost/x", Events: []string{"receipt.threshold"}, Thresholds: []int{}},
	}
	got := decode[protocol.WebhookListResult](t, raw).Webhooks
	if len(got) != len(want) {
		t.Fatalf("list = %s, want %d endpoints", raw, len(want))
	}
	for i := range want {
		if got[i].CreatedAt == 0 {
			t.Errorf("endpoint %s has no createdAt", got[i].ID)
		}
		got[i].CreatedAt = 0
		g, _ := json.Marshal(got[i])
		w, _ := json.Marshal(want[i])
		if string(g) != string(w) {
			t.Errorf("endpoint %d = %s, want %s", i, g, w)
		}
	}

	if code, body := s.Admin(http.MethodDelete, "/v1/admin/webhooks/"+b.ID, nil); code != http.StatusNoContent {
		t.Fatalf("delete = %d %s, want 204", code, body)
	}
	code, body = s.Admin(http.MethodDelete, "/v1/admin/webhooks/"+b.ID, nil)
	wantAdminError(t, code, body, http.StatusNotFound, protocol.CodeNotFound, "")
	ids := []string{}
	for _, w := range listWebhooks(t, s) {
		ids = append(ids, w.ID)
	}
	if !slices.Equal(ids, []string{a.ID, c.ID}) {
		t.Fatalf("after delete: %v, want %v", ids, []string{a.ID, c.ID})
	}

	// A fresh endpoint has no deliveries; an unknown one is 404, and a
	// bad state or limit is 400 naming it.
	res := decode[protocol.WebhookDeliveriesResult](t, s.MustAdmin(http.MethodGet, "/v1/admin/webhooks/"+a.ID+"/deliveries?state=dead", nil))
	if len(res.Deliveries) != 0 || res.NextCursor != "" {
		t.Fatalf("deliveries of a new endpoint = %+v, want none", res)
	}
	for _, tc := range []struct {
		path         string
		status, code int
		field        string
	}{
		{"/v1/admin/webhooks/" + b.ID + "/deliveries", 404, protocol.CodeNotFound, ""},
		{"/v1/admin/webhooks/" + a.ID + "/deliveries?state=lost", 400, protocol.CodeInvalidParams, "state"},
		{"/v1/admin/webhooks/" + a.ID + "/deliveries?limit=0", 400, protocol.CodeInvalidParams, "limit"},
		{"/v1/admin/webhooks/" + a.ID + "/deliveries?limit=101", 400, protocol.CodeInvalidParams, "limit"},
		{"/v1/admin/webhooks/" + a.ID + "/deliveries?limit=x", 400, protocol.CodeInvalidParams, "limit"},
	} {
		code, body := s.Admin(http.MethodGet, tc.path, nil)
		wantAdminError(t, code, body, tc.status, tc.code, tc.field)
	}
	code, body = s.Admin(http.MethodPost, "/v1/admin/webhooks/"+a.ID+"/deliveries/nope/replay", nil)
	wantAdminError(t, code, body, http.StatusNotFound, protocol.CodeNotFound, "")
}

// Every bad registration is refused with the field named, and nothing is
// stored.
func TestWebhookAdminBadInput(t *testing.T) {
	s := seentest.Start(t)
	long := "http://h/" + strings.Repeat("a", protocol.MaxWebhookURLLen)
	cases := []struct {
		name, body string
		code       int
		field      string
	}{
		{"no url", `{"events":["receipt.read"]}`, protocol.CodeInvalidParams, "url"},
		{"ftp", `{"url":"ftp://h/x","events":["receipt.read"]}`, protocol.CodeInvalidParams, "url"},
		{"relative", `{"url":"/hooks","events":["receipt.read"]}`, protocol.CodeInvalidParams, "url"},
		{"no host", `{"url":"http:///x","events":["receipt.read"]}`, protocol.CodeInvalidParams, "url"},
		{"opaque", `{"url":"http:h.example","events":["receipt.read"]}`, protocol.CodeInvalidParams, "url"},
		{"userinfo", `{"url":"https://u:p@h.example/x","events":["receipt.read"]}`, protocol.CodeInvalidParams, "url"},
		{"fragment", `{"url":"https://h.example/x#top","events":["receipt.read"]}`, protocol.CodeInvalidParams, "url"},
		{"empty fragment", `{"url":"https://h.example/x#","events":["receipt.read"]}`, protocol.CodeInvalidParams, "url"},
		{"too long", `{"url":"` + long + `","events":["receipt.read"]}`, protocol.CodeInvalidParams, "url"},
		{"bad port", `{"url":"http://h.example:x/","events":["receipt.read"]}`, protocol.CodeInvalidParams, "url"},
		{"url not a string", `{"url":5,"events":["receipt.read"]}`, protocol.CodeInvalidParams, "url"},
		{"no events", `{"url":"http://h/x"}`, protocol.CodeInvalidParams, "events"},
		{"empty events", `{"url":"http://h/x","events":[]}`, protocol.CodeInvalidParams, "events"},
		{"unknown event", `{"url":"http://h/x","events":["receipt.read","receipt.lost"]}`, protocol.CodeInvalidParams, "events"},
		{"event twice", `{"url":"http://h/x","events":["receipt.read","receipt.read"]}`, protocol.CodeInvalidParams, "events"},
		{"threshold 0", `{"url":"http://h/x","events":["receipt.threshold"],"thresholds":[0]}`, protocol.CodeInvalidParams, "thresholds"},
		{"threshold 101", `{"url":"http://h/x","events":["receipt.threshold"],"thresholds":[50,101]}`, protocol.CodeInvalidParams, "thresholds"},
		{"threshold negative", `{"url":"http://h/x","events":["receipt.threshold"],"thresholds":[-5]}`, protocol.CodeInvalidParams, "thresholds"},
		{"threshold twice", `{"url":"http://h/x","events":["receipt.threshold"],"thresholds":[50,50]}`, protocol.CodeInvalidParams, "thresholds"},
		{"threshold fraction", `{"url":"http://h/x","events":["receipt.threshold"],"thresholds":[50.5]}`, protocol.CodeInvalidParams, "thresholds"},
		{"11 thresholds", `{"url":"http://h/x","events":["receipt.threshold"],"thresholds":[1,2,3,4,5,6,7,8,9,10,11]}`, protocol.CodeInvalidParams, "thresholds"},
		{"bad group type", `{"url":"http://h/x","events":["receipt.read"],"groupTypes":["a b"]}`, protocol.CodeInvalidParams, "groupTypes"},
		{"empty group type", `{"url":"http://h/x","events":["receipt.read"],"groupTypes":[""]}`, protocol.CodeInvalidParams, "groupTypes"},
		{"group type twice", `{"url":"http://h/x","events":["receipt.read"],"groupTypes":["w","w"]}`, protocol.CodeInvalidParams, "groupTypes"},
		{"unknown field", `{"url":"http://h/x","events":["receipt.threshold"],"threshold":[90]}`, protocol.CodeInvalidParams, "threshold"},
		{"allMessages not bool", `{"url":"http://h/x","events":["message.sent"],"allMessages":"yes"}`, protocol.CodeInvalidParams, "allMessages"},
		{"not an object", `["http://h/x"]`, protocol.CodeInvalidParams, ""},
		{"not JSON", `{"url":`, protocol.CodeParseError, ""},
		{"empty body", ``, protocol.CodeInvalidParams, "url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := s.Admin(http.MethodPost, "/v1/admin/webhooks", tc.body)
			wantAdminError(t, code, body, http.StatusBadRequest, tc.code, tc.field)
			if got := listWebhooks(t, s); len(got) != 0 {
				t.Fatalf("a refused registration stored %v", got)
			}
		})
	}
}

// A store that cannot write answers 503 to a registration and to a delete,
// and changes nothing: webhook writes go through the same store hook as
// every other write.
func TestWebhookAdminStoreFailure(t *testing.T) {
	s, faults := startFaulty(t)
	kept := decode[protocol.WebhookCreateResult](t, s.MustAdmin(http.MethodPost, "/v1/admin/webhooks",
		`{"url":"http://127.0.0.1:9/","events":["receipt.read"]}`))
	faults.FailWrites()
	code, body := s.Admin(http.MethodPost, "/v1/admin/webhooks", `{"url":"http://127.0.0.1:9/x","events":["receipt.read"]}`)
	wantAdminError(t, code, body, http.StatusServiceUnavailable, protocol.CodeUnavailable, "")
	code, body = s.Admin(http.MethodDelete, "/v1/admin/webhooks/"+kept.ID, nil)
	wantAdminError(t, code, body, http.StatusServiceUnavailable, protocol.CodeUnavailable, "")
	faults.Heal()
	if got := listWebhooks(t, s); len(got) != 1 || got[0].ID != kept.ID {
		t.Fatalf("after failed writes: %+v, want only %s", got, kept.ID)
	}
}

// The static endpoint of the settings is listed like any other, and its
// deliveries can be read, but the admin API cannot delete it: every node
// would create it again at its next start.
func TestWebhookAdminStaticEndpoint(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) {
		c.Webhooks.URL = "http://127.0.0.1:9/static"
		c.Webhooks.Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		c.Webhooks.Events = []string{"receipt.threshold"}
	})
	list := listWebhooks(t, s)
	if len(list) != 1 || list[0].ID != config.StaticWebhookID || list[0].URL != "http://127.0.0.1:9/static" {
		t.Fatalf("list = %+v, want the static endpoint", list)
	}
	code, body := s.Admin(http.MethodDelete, "/v1/admin/webhooks/"+config.StaticWebhookID, nil)
	wantAdminError(t, code, body, http.StatusUnprocessableEntity, protocol.CodeUnprocessable, "")
	if list := listWebhooks(t, s); len(list) != 1 {
		t.Fatalf("after a refused delete: %+v", list)
	}
	s.MustAdmin(http.MethodGet, "/v1/admin/webhooks/"+config.StaticWebhookID+"/deliveries", nil)
}
