package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
)

// TestMetricsNeedTheAdminKey checks that /metrics, which tells who is
// connected and how busy the node is, is served with the admin API and
// behind its key: never openly on the client listener.
func TestMetricsNeedTheAdminKey(t *testing.T) {
	get := func(url, authz string) (int, string) {
		t.Helper()
		resp, b := adminHTTP(t, "GET", url, authz, nil)
		return resp.StatusCode, string(b)
	}
	key := "Bearer " + seentest.AdminKey

	t.Run("one listener", func(t *testing.T) {
		s := seentest.Start(t)
		for _, authz := range []string{"", "Bearer wrong-key", "Basic " + seentest.AdminKey} {
			if code, body := get(s.URL()+"/metrics", authz); code != http.StatusUnauthorized {
				t.Errorf("GET /metrics with %q = %d, want 401 (%.80s)", authz, code, body)
			}
		}
		code, body := get(s.URL()+"/metrics", key)
		if code != http.StatusOK || !strings.Contains(body, "seen_connections ") {
			t.Errorf("GET /metrics with the admin key = %d, want 200 with seen_connections (%.200s)", code, body)
		}
	})

	t.Run("admin listener apart", func(t *testing.T) {
		s := seentest.Start(t, func(c *config.Config) { c.AdminListen = "127.0.0.1:0" })
		// The client listener does not serve it, with or without the key.
		for _, authz := range []string{"", key} {
			if code, body := get(s.URL()+"/metrics", authz); code != http.StatusNotFound {
				t.Errorf("GET /metrics on the client listener with %q = %d, want 404 (%.80s)", authz, code, body)
			}
		}
		admin := "http://" + s.AdminAddr() + "/metrics"
		if code, _ := get(admin, ""); code != http.StatusUnauthorized {
			t.Errorf("GET /metrics on the admin listener without the key = %d, want 401", code)
		}
		code, body := get(admin, key)
		if code != http.StatusOK || !strings.Contains(body, "seen_connections ") {
			t.Errorf("GET /metrics on the admin listener = %d, want 200 with seen_connections (%.200s)", code, body)
		}
	})
}
