package auth

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const secret = "0123456789abcdef0123456789abcdef"

func TestMintVerify(t *testing.T) {
	tok := New(secret, nil)
	s, exp, err := tok.Mint("alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(exp) < 59*time.Minute {
		t.Errorf("expiresAt %v is not an hour away", exp)
	}
	got, gotExp, err := tok.Verify(s)
	if err != nil || got != "alice" {
		t.Fatalf("Verify = %q, %v; want alice, nil", got, err)
	}
	if !gotExp.Equal(exp) {
		t.Errorf("Verify's exp = %v, want the minted %v", gotExp, exp)
	}
}

func TestVerifyRejects(t *testing.T) {
	now := time.Now()
	tok := New(secret, func() time.Time { return now })
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	exp := now.Add(time.Hour).Unix()
	cases := map[string]string{
		"empty":         "",
		"garbage":       "not.a.token",
		"alg none":      b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(`{"sub":"alice","exp":`+strconv.FormatInt(exp, 10)+`}`) + ".",
		"wrong key":     sign(jwt.SigningMethodHS256, []byte("another-secret-of-enough-length"), jwt.MapClaims{"sub": "alice", "exp": exp}),
		"wrong alg":     sign(jwt.SigningMethodHS512, []byte(secret), jwt.MapClaims{"sub": "alice", "exp": exp}),
		"expired":       sign(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "alice", "exp": now.Add(-time.Minute).Unix()}),
		"no exp":        sign(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "alice"}),
		"not yet valid": sign(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "alice", "exp": exp, "nbf": now.Add(time.Minute).Unix()}),
		"no sub":        sign(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"exp": exp}),
		"bad sub":       sign(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "a/b", "exp": exp}),
		// RFC 7519: a NumericDate is a JSON number, never a string.
		"exp a string": sign(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "alice", "exp": strconv.FormatInt(exp, 10)}),
		"nbf a string": sign(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "alice", "exp": exp, "nbf": strconv.FormatInt(now.Unix(), 10)}),
		"iat a string": sign(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "alice", "exp": exp, "iat": strconv.FormatInt(now.Unix(), 10)}),
		"oversized":    sign(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "alice", "exp": exp, "pad": strings.Repeat("x", MaxTokenBytes)}),
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			got, _, err := tok.Verify(s)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify = %q, %v; want ErrInvalidToken", got, err)
			}
		})
	}
}
