package webhook

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The vector every reference library of the Standard Webhooks repository
// tests against (libraries/*/…: TestWebhookSign and its ports).
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecUnix   = 1614265330
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignSpecVector(t *testing.T) {
	got, err := Sign(vecSecret, vecID, time.Unix(vecUnix, 0), []byte(vecBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != vecSig {
		t.Errorf("Sign = %q, want %q", got, vecSig)
	}
	// The prefix is optional, as in the reference libraries.
	got, err = Sign(strings.TrimPrefix(vecSecret, SecretPrefix), vecID, time.Unix(vecUnix, 0), []byte(vecBody))
	if err != nil || got != vecSig {
		t.Errorf("Sign without prefix = %q, %v; want %q", got, err, vecSig)
	}
}

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSecret()
	if a == b {
		t.Errorf("two secrets are equal: %q", a)
	}
	if !strings.HasPrefix(a, SecretPrefix) {
		t.Fatalf("secret %q lacks %q", a, SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, SecretPrefix))
	if err != nil || len(key) != 24 {
		t.Errorf("secret %q decodes to %d bytes, %v; want 24", a, len(key), err)
	}
}

func vecHeaders(sig string) http.Header {
	h := http.Header{}
	h.Set(HeaderID, vecID)
	h.Set(HeaderTimestamp, strconv.Itoa(vecUnix))
	h.Set(HeaderSignature, sig)
	return h
}

func TestVerify(t *testing.T) {
	at := time.Unix(vecUnix, 0)
	const tol = 5 * time.Minute
	other := "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
	cases := []struct {
		name    string
		h       http.Header
		body    string
		now     time.Time
		secret  string
		wantErr error
	}{
		{"valid", vecHeaders(vecSig), vecBody, at, vecSecret, nil},
		{"valid near the edge", vecHeaders(vecSig), vecBody, at.Add(tol), vecSecret, nil},
		{"several signatures, one matches", vecHeaders(other + " v1a,abcd " + vecSig), vecBody, at, vecSecret, nil},
		{"tampered body", vecHeaders(vecSig), `{"test": 2432232315}`, at, vecSecret, ErrNoMatch},
		{"wrong secret", vecHeaders(vecSig), vecBody, at, "whsec_" + base64.StdEncoding.EncodeToString([]byte("another key")), ErrNoMatch},
		{"only other signatures", vecHeaders(other + " v2," + strings.TrimPrefix(vecSig, "v1,")), vecBody, at, vecSecret, ErrNoMatch},
		{"partial signature", vecHeaders("v1,"), vecBody, at, vecSecret, ErrNoMatch},
		{"stale", vecHeaders(vecSig), vecBody, at.Add(tol + time.Second), vecSecret, ErrTooOld},
		{"future", vecHeaders(vecSig), vecBody, at.Add(-tol - time.Second), vecSecret, ErrTooNew},
		{"no id", func() http.Header { h := vecHeaders(vecSig); h.Del(HeaderID); return h }(), vecBody, at, vecSecret, ErrHeaders},
		{"no signature", func() http.Header { h := vecHeaders(vecSig); h.Del(HeaderSignature); return h }(), vecBody, at, vecSecret, ErrHeaders},
		{"bad timestamp", func() http.Header { h := vecHeaders(vecSig); h.Set(HeaderTimestamp, "soon"); return h }(), vecBody, at, vecSecret, ErrHeaders},
		{"bad secret", vecHeaders(vecSig), vecBody, at, "whsec_!!", ErrSecret},
		{"empty secret", vecHeaders(vecSig), vecBody, at, "whsec_", ErrSecret},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Verify(c.secret, c.h, []byte(c.body), c.now, tol)
			if c.wantErr == nil && err != nil || c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Errorf("Verify = %v, want %v", err, c.wantErr)
			}
		})
	}
}

// TestOfficialLibraryVerifiesOurs: a receiver using the Standard Webhooks
// Go library accepts what Seen signs, and rejects it once tampered.
func TestOfficialLibraryVerifiesOurs(t *testing.T) {
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"receipt.read","timestamp":"2026-11-30T09:00:00Z","data":{}}`)
	h, err := Headers(secret, "evt_1", time.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(body, h); err != nil {
		t.Errorf("official library rejects our signature: %v", err)
	}
	body[len(body)-2] = ' '
	if err := wh.Verify(body, h); err == nil {
		t.Error("official library accepts a tampered body")
	}
	// And we accept what it signs.
	sig, err := wh.Sign("evt_2", time.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	h.Set(HeaderID, "evt_2")
	h.Set(HeaderSignature, sig)
	h.Set(HeaderTimestamp, strconv.FormatInt(time.Now().Unix(), 10))
	if err := Verify(secret, h, body, time.Now(), time.Minute); err != nil {
		t.Errorf("Verify rejects the official library's signature: %v", err)
	}
}
