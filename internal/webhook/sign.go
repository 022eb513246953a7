// Package webhook signs and delivers Seen's webhook calls: the Standard
// Webhooks signature scheme (sign.go) and the dispatcher that drains the
// store's outbox (dispatch.go).
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers
// (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix marks a symmetric (HMAC-SHA256) signing secret.
const SecretPrefix = "whsec_"

// secretBytes is the key length of NewSecret: 24 random bytes (192 bits)
// are far beyond brute force for HMAC-SHA256 and encode to 32 base64
// characters without padding, as the spec's examples do.
const secretBytes = 24

// Verification errors; Verify wraps them.
var (
	ErrSecret       = errors.New("webhook: bad secret")
	ErrHeaders      = errors.New("webhook: missing or bad signature headers")
	ErrTooOld       = errors.New("webhook: timestamp too old")
	ErrTooNew       = errors.New("webhook: timestamp too far in the future")
	ErrNoMatch      = errors.New("webhook: no matching signature")
	errEmptySecrets = errors.New("webhook: empty secret")
)

// NewSecret returns a fresh signing secret: "whsec_" + base64 of 24
// random bytes.
func NewSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhook: new secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// decodeSecret returns the HMAC key of a secret. The prefix is optional,
// as in the reference libraries, so a bare base64 key works too.
func decodeSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecret, err)
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrSecret, errEmptySecrets)
	}
	return key, nil
}

// Sign returns the webhook-signature header value for one attempt:
// "v1," + base64(HMAC-SHA256(key, id + "." + unix seconds + "." + body)).
// The body must be sent exactly as signed.
func Sign(secret, id string, timestamp time.Time, body []byte) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, timestamp.Unix(), body)), nil
}

func mac(key []byte, id string, unix int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, unix, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Headers returns the three Standard Webhooks headers of one attempt.
func Headers(secret, id string, timestamp time.Time, body []byte) (http.Header, error) {
	sig, err := Sign(secret, id, timestamp, body)
	if err != nil {
		return nil, err
	}
	h := make(http.Header, 3)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(timestamp.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h, nil
}

// Verify checks a received call: the headers must be present, the
// timestamp within tolerance of now on either side (a replayed old call
// and a forged future one both fail), and at least one of the
// space-separated signatures a "v1" HMAC of this id, timestamp and body
// (several are sent while a secret is rotated). Signatures of other
// schemes (v1a) are skipped. Comparison is constant-time.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := decodeSecret(secret)
	if err != nil {
		return err
	}
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrHeaders
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q", ErrHeaders, ts)
	}
	at := time.Unix(unix, 0)
	if now.Sub(at) > tolerance {
		return fmt.Errorf("%w: %s", ErrTooOld, now.Sub(at).Round(time.Second))
	}
	if at.Sub(now) > tolerance {
		return fmt.Errorf("%w: %s", ErrTooNew, at.Sub(now).Round(time.Second))
	}
	want := mac(key, id, unix, body)
	for _, s := range strings.Fields(sigs) {
		version, enc, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrNoMatch
}
