package admin

import (
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/seen-im/seen/protocol"
)

// SignToken signs a user token for userID with the server's token secret
// (SEEN_TOKEN_SECRET, or the data directory's token-secret file), valid for
// ttl. It returns the token and its expiry, which is whole seconds as JWT's
// exp is. The server accepts it as it accepts the tokens it mints.
func SignToken(secret, userID string, ttl time.Duration) (string, time.Time, error) {
	return SignTokenAt(secret, userID, time.Now(), ttl)
}

// SignTokenAt is SignToken with the issue time given (for a clock other than
// time.Now). This is the one place the token's claims are laid out: the
// server mints its tokens through it too.
func SignTokenAt(secret, userID string, now time.Time, ttl time.Duration) (string, time.Time, error) {
	if !protocol.ValidID(userID) {
		return "", time.Time{}, fmt.Errorf("sign token: bad user id %q", userID)
	}
	if ttl <= 0 {
		return "", time.Time{}, fmt.Errorf("sign token: ttl must be positive, got %v", ttl)
	}
	if secret == "" {
		return "", time.Time{}, fmt.Errorf("sign token: empty secret")
	}
	exp := now.Add(ttl).Truncate(time.Second)
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject:   userID,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
	})
	s, err := tok.SignedString([]byte(secret))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return s, exp, nil
}
