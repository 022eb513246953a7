package server

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/seen-im/seen/internal/auth"
	"github.com/seen-im/seen/internal/service"
	"github.com/seen-im/seen/internal/transport/admin"
	"github.com/seen-im/seen/protocol"
)

// demoTokenTTL is the lifetime of a demo token.
const demoTokenTTL = 12 * time.Hour

// demoToken serves POST /v1/demo/token {"userId"}: it registers the user and
// mints a token, so the browser demo can join under any name. It is
// mounted only in demo mode (config.DemoEnabled): anyone who can reach it
// can act as any user.
func demoToken(svc *service.Service, tokens *auth.Tokens) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			UserID string `json:"userId"`
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4096))
		if err == nil {
			if pe := service.DecodeParams(body, &p); pe != nil {
				admin.WriteError(w, pe)
				return
			}
		}
		if _, err := svc.CreateUser(r.Context(), p.UserID, ""); err != nil {
			if pe, ok := err.(*protocol.Error); ok {
				admin.WriteError(w, pe)
				return
			}
			admin.WriteError(w, protocol.Errorf(protocol.CodeInternal, "internal error"))
			return
		}
		tok, exp, err := tokens.Mint(p.UserID, demoTokenTTL)
		if err != nil {
			admin.WriteError(w, protocol.Errorf(protocol.CodeInternal, "internal error"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "expiresAt": exp.UnixMilli(), "userId": p.UserID})
	}
}
