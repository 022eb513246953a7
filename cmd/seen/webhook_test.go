package main

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/webhook"
)

// startListen runs `seen webhook listen` in process on a free port and
// returns its base URL and output; it is stopped, and its error checked,
// when the test ends.
func startListen(t *testing.T, secret string, extra ...string) (string, *lockedBuffer, *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &lockedBuffer{}, &lockedBuffer{}
	cmd := newRootCmd()
	cmd.SetArgs(append([]string{"webhook", "listen", "--addr", "127.0.0.1:0", "--secret", secret}, extra...))
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("webhook listen: %v", err)
		}
	})
	addrRE := regexp.MustCompile(`listening on (http://[0-9.:]+)/`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := addrRE.FindStringSubmatch(errOut.String()); m != nil {
			return m[1], out, errOut
		}
		select {
		case err := <-done:
			t.Fatalf("webhook listen ended: %v (%s)", err, errOut)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook listen did not start: %s", errOut)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func post(t *testing.T, url string, h http.Header, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The receiver answers 204 to a call signed with its secret and prints
// it; a tampered body, a missing signature, another secret, a stale
// timestamp, a body that is not JSON or too large are refused and not
// printed as events.
func TestWebhookListen(t *testing.T) {
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	base, out, errOut := startListen(t, secret)
	const body = `{"type":"receipt.threshold","timestamp":"2026-11-30T09:00:00Z","data":{"msgId":"m1","threshold":50}}`
	signed := func(id, body string, at time.Time, secret string) http.Header {
		h, err := webhook.Headers(secret, id, at, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	now := time.Now()

	if got := post(t, base+"/hooks", signed("thr_m1_50", body, now, secret), body); got != http.StatusNoContent {
		t.Fatalf("signed call: %d, want 204 (%s)", got, errOut)
	}
	printed := out.String()
	if !strings.Contains(printed, "  thr_m1_50  receipt.threshold\n{\n  \"type\": \"receipt.threshold\",") ||
		!strings.Contains(printed, "\n    \"threshold\": 50\n") {
		t.Fatalf("printed:\n%s\nwant the id, the type and the indented body", printed)
	}

	other, _ := webhook.NewSecret()
	big := `{"pad":"` + strings.Repeat("x", listenMaxBody) + `"}`
	for _, tc := range []struct {
		name string
		h    http.Header
		body string
		want int
	}{
		{"tampered", signed("thr_m1_90", body, now, secret), strings.Replace(body, "50", "90", 1), http.StatusUnauthorized},
		{"unsigned", http.Header{}, body, http.StatusUnauthorized},
		{"other secret", signed("thr_m1_91", body, now, other), body, http.StatusUnauthorized},
		{"stale", signed("thr_m1_92", body, now.Add(-time.Hour), secret), body, http.StatusUnauthorized},
		{"not JSON", signed("thr_m1_93", "{nope", now, secret), "{nope", http.StatusBadRequest},
		{"too large", signed("thr_m1_94", big, now, secret), big, http.StatusRequestEntityTooLarge},
	} {
		if got := post(t, base+"/", tc.h, tc.body); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
	if out.String() != printed {
		t.Errorf("refused calls were printed as events:\n%s", strings.TrimPrefix(out.String(), printed))
	}
	if n := strings.Count(errOut.String(), "refused"); n != 7 {
		t.Errorf("stderr reports %d refusals, want 7:\n%s", n, errOut)
	}
}

// --delay answers each call that verifies only after the delay (a slow
// app server), and --quiet prints nothing for it.
func TestWebhookListenDelayAndQuiet(t *testing.T) {
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	base, out, errOut := startListen(t, secret, "--delay", "300ms", "--quiet")
	const body = `{"type":"message.sent","timestamp":"2026-11-30T09:00:00Z","data":{}}`
	h, err := webhook.Headers(secret, "sent_m1", time.Now(), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if got := post(t, base+"/", h, body); got != http.StatusNoContent {
		t.Fatalf("signed call: %d, want 204 (%s)", got, errOut)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("answered after %v, before the 300ms delay", took)
	}
	if out.String() != "" {
		t.Errorf("--quiet printed %q", out.String())
	}
}

func TestWebhookListenNeedsAGoodSecret(t *testing.T) {
	for _, args := range [][]string{
		{"webhook", "listen", "--addr", "127.0.0.1:0"},
		{"webhook", "listen", "--addr", "127.0.0.1:0", "--secret", "whsec_not base64!"},
	} {
		cmd := newRootCmd()
		cmd.SetArgs(args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		if err := cmd.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: err = %v, want one about the secret", args, err)
		}
	}
}
