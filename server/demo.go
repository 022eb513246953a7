package server

import (
	"encoding/json"
	"io"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/seen-im/seen/internal/auth"
	"github.com/seen-im/seen/internal/service"
	"github.com/seen-im/seen/internal/transport/admin"
	"github.com/seen-im/seen/protocol"
)

// demoTokenTTL is the lifetime of a demo token.
const demoTokenTTL = 12 * time.Hour

// proxyHeaders are set by reverse proxies. A request carrying any of them
// came through one, so the loopback listener that turned the demo on says
// nothing about who sent it.
var proxyHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip"}

// demoToken serves POST /v1/demo/token {"userId"}: it registers the user,
// marked as the demo's, and mints a token, so the browser demo can join
// under a new name. It is mounted only in demo mode (config.DemoEnabled),
// and it refuses (403) a request that came through a proxy and a user the
// demo did not create: an app's users are never the demo's to hand out.
func demoToken(svc *service.Service, tokens *auth.Tokens) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for _, h := range proxyHeaders {
			if _, ok := r.Header[h]; ok {
				admin.WriteError(w, protocol.Errorf(protocol.CodeForbidden,
					"demo tokens are not served through a proxy (%s)", h))
				return
			}
		}
		var p struct {
			UserID string `json:"userId"`
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4096))
		if err == nil {
			if !utf8.Valid(body) {
				admin.WriteError(w, protocol.Errorf(protocol.CodeParseError, "body is not valid UTF-8"))
				return
			}
			if pe := service.DecodeParams(body, &p); pe != nil {
				admin.WriteError(w, pe)
				return
			}
		}
		ok, err := svc.CreateDemoUser(r.Context(), p.UserID)
		if err != nil {
			if pe, isPE := err.(*protocol.Error); isPE {
				admin.WriteError(w, pe)
				return
			}
			admin.WriteError(w, protocol.Errorf(protocol.CodeInternal, "internal error"))
			return
		}
		if !ok {
			pe := protocol.Errorf(protocol.CodeForbidden, "user %q was not created by the demo; pick another name", p.UserID)
			pe.Data = map[string]any{"field": "userId"}
			admin.WriteError(w, pe)
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
