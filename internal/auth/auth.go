// Package auth mints and verifies user tokens: JWT, HS256, with the user id
// in "sub" and a required "exp".
package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/seen-im/seen/admin"
	"github.com/seen-im/seen/protocol"
)

// MaxTokenBytes bounds the token a client may present; longer ones are
// rejected before parsing.
const MaxTokenBytes = 4096

// ErrInvalidToken is returned, wrapped, for every token that is not accepted.
var ErrInvalidToken = errors.New("auth: invalid token")

// Leeway is the clock skew tolerated on exp and nbf.
const Leeway = 5 * time.Second

// Tokens mints and verifies tokens with one shared secret. It is safe for
// concurrent use.
type Tokens struct {
	secret []byte
	now    func() time.Time
}

// New returns a Tokens for secret. now may be nil (time.Now).
func New(secret string, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{secret: []byte(secret), now: now}
}

// Mint signs a token for userID that expires after ttl. The claims are laid
// out by admin.SignTokenAt, the signing function app servers import, so the
// two cannot drift apart.
func (t *Tokens) Mint(userID string, ttl time.Duration) (string, time.Time, error) {
	s, exp, err := admin.SignTokenAt(string(t.secret), userID, t.now(), ttl)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: mint: %w", err)
	}
	return s, exp, nil
}

// Verify checks token's signature (HS256 only), expiry, not-before and
// subject, and returns the user id and the token's exp: a connection
// authenticated by the token lives until then (plus Leeway).
func (t *Tokens) Verify(token string) (string, time.Time, error) {
	if token == "" {
		return "", time.Time{}, fmt.Errorf("%w: empty", ErrInvalidToken)
	}
	if len(token) > MaxTokenBytes {
		return "", time.Time{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, MaxTokenBytes)
	}
	var claims strictClaims
	_, err := jwt.ParseWithClaims(token, &claims,
		func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if !protocol.ValidID(claims.Subject) {
		return "", time.Time{}, fmt.Errorf("%w: bad subject %q", ErrInvalidToken, claims.Subject)
	}
	// WithExpirationRequired made sure exp is there.
	return claims.Subject, claims.ExpiresAt.Time, nil
}

// strictClaims are the registered claims, parsed as RFC 7519 says: exp,
// nbf and iat are NumericDates, which are JSON numbers. jwt.NumericDate
// alone also takes a numeric string ("exp":"1700000000"), and no parser
// option of golang-jwt turns that off.
type strictClaims struct {
	jwt.RegisteredClaims
}

// UnmarshalJSON refuses a time claim that is not a JSON number, then
// decodes the claims as usual.
func (c *strictClaims) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		v, ok := raw[name]
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
			return fmt.Errorf("claim %q is not a number", name)
		}
	}
	return json.Unmarshal(b, &c.RegisteredClaims)
}
