// Package admin serves the server API that app servers call: users,
// tokens, groups, members and roles, and sending as a user; and the
// node's Prometheus metrics. Every request carries the admin key as a
// bearer token.
package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/seen-im/seen/internal/auth"
	"github.com/seen-im/seen/internal/service"
	"github.com/seen-im/seen/protocol"
)

// maxBodyBytes bounds an admin request body: a group created with 100,000
// members fits.
const maxBodyBytes = 8 << 20

// maxTokenTTL bounds the lifetime of a minted token.
const maxTokenTTL = 366 * 24 * time.Hour

// Options are what the admin API is built from.
type Options struct {
	Service *service.Service
	Tokens  *auth.Tokens
	// Key is the admin key; empty disables the API (every call is 401).
	Key    string
	Logger *slog.Logger
	// Metrics, if set, is served at GET /metrics behind the admin key:
	// the metrics tell who is connected and how busy the node is, which
	// is the operator's business, not every client's.
	Metrics http.Handler
}

// API is the admin http.Handler.
type API struct {
	o       Options
	keyHash [32]byte
	mux     *http.ServeMux
}

// New builds the admin API.
func New(o Options) *API {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	a := &API{o: o, keyHash: sha256.Sum256([]byte(o.Key)), mux: http.NewServeMux()}
	a.mux.HandleFunc("POST /v1/admin/users", a.createUser)
	a.mux.HandleFunc("POST /v1/admin/tokens", a.mintToken)
	a.mux.HandleFunc("POST /v1/admin/groups", a.createGroup)
	a.mux.HandleFunc("POST /v1/admin/groups/{groupId}/members", a.addMembers)
	a.mux.HandleFunc("DELETE /v1/admin/groups/{groupId}/members/{userId}", a.removeMember)
	a.mux.HandleFunc("PUT /v1/admin/groups/{groupId}/members/{userId}", a.setRole)
	a.mux.HandleFunc("POST /v1/admin/messages", a.sendMessage)
	a.mux.HandleFunc("GET /v1/admin/messages/{msgId}/receipt", a.receipt)
	a.mux.HandleFunc("GET /v1/admin/messages/{msgId}/members", a.receiptMembers)
	a.mux.HandleFunc("GET /v1/admin/users/{userId}/settings", a.settings)
	a.mux.HandleFunc("PUT /v1/admin/users/{userId}/settings", a.updateSettings)
	a.mux.HandleFunc("POST /v1/admin/webhooks", a.createWebhook)
	a.mux.HandleFunc("GET /v1/admin/webhooks", a.webhooks)
	a.mux.HandleFunc("DELETE /v1/admin/webhooks/{id}", a.deleteWebhook)
	a.mux.HandleFunc("GET /v1/admin/webhooks/{id}/deliveries", a.deliveries)
	a.mux.HandleFunc("POST /v1/admin/webhooks/{id}/deliveries/{eventId}/replay", a.replayDelivery)
	// Profiles of the running server, behind the admin key like the rest.
	a.mux.HandleFunc("GET /v1/admin/debug/pprof/", func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/v1/admin")
		pprof.Index(w, r)
	})
	a.mux.HandleFunc("GET /v1/admin/debug/pprof/profile", pprof.Profile)
	a.mux.HandleFunc("GET /v1/admin/debug/pprof/trace", pprof.Trace)
	if o.Metrics != nil {
		a.mux.Handle("GET /metrics", o.Metrics)
	}
	a.mux.HandleFunc("/v1/admin/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, protocol.Errorf(protocol.CodeNotFound, "no such admin endpoint"))
	})
	return a
}

// ServeHTTP checks the admin key, then routes.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="seen-admin"`)
		WriteError(w, protocol.Errorf(protocol.CodeUnauthorized, "bad or missing admin key"))
		return
	}
	a.mux.ServeHTTP(w, r)
}

// authorized compares the bearer key in constant time (over hashes, so the
// key's length does not leak either).
func (a *API) authorized(r *http.Request) bool {
	if a.o.Key == "" {
		return false
	}
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	h := sha256.Sum256([]byte(key))
	return subtle.ConstantTimeCompare(h[:], a.keyHash[:]) == 1
}

// decode reads a JSON object body into each of ps.
func decode(w http.ResponseWriter, r *http.Request, ps ...any) *protocol.Error {
	body, pe := readBody(w, r)
	if pe != nil {
		return pe
	}
	for _, p := range ps {
		if pe := service.DecodeParams(body, p); pe != nil {
			return pe
		}
	}
	return nil
}

// readBody reads a request body that must be JSON (or empty) in UTF-8.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *protocol.Error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, protocol.Errorf(protocol.CodeTooLarge, "body larger than %d bytes", maxBodyBytes)
		}
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "cannot read body")
	}
	if len(strings.TrimSpace(string(body))) > 0 && !json.Valid(body) {
		return nil, protocol.Errorf(protocol.CodeParseError, "invalid JSON")
	}
	// JSON text is UTF-8 (RFC 8259 §8.1); encoding/json would turn bad
	// bytes into U+FFFD in one place and keep them raw in another
	// (json.RawMessage bodies), so they are refused here, whole.
	if !utf8.Valid(body) {
		return nil, protocol.Errorf(protocol.CodeParseError, "body is not valid UTF-8")
	}
	return body, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes pe as the server API's error body, with the HTTP
// status matching its code.
func WriteError(w http.ResponseWriter, pe *protocol.Error) {
	writeJSON(w, protocol.HTTPStatus(pe.Code), map[string]any{"error": pe})
}

// fail writes err, which the service has already made a *protocol.Error
// (or which becomes a 500 with no detail).
func (a *API) fail(w http.ResponseWriter, err error) {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		a.o.Logger.Error("admin", "err", err)
		pe = protocol.Errorf(protocol.CodeInternal, "internal error")
	}
	WriteError(w, pe)
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) {
	var p struct {
		UserID string `json:"userId"`
		Name   string `json:"name"`
	}
	if pe := decode(w, r, &p); pe != nil {
		WriteError(w, pe)
		return
	}
	created, err := a.o.Service.CreateUser(r.Context(), p.UserID, p.Name)
	if err != nil {
		a.fail(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]string{"userId": p.UserID})
}

func (a *API) mintToken(w http.ResponseWriter, r *http.Request) {
	var p struct {
		UserID     string `json:"userId"`
		TTLSeconds *int64 `json:"ttlSeconds"`
	}
	if pe := decode(w, r, &p); pe != nil {
		WriteError(w, pe)
		return
	}
	if !protocol.ValidID(p.UserID) {
		WriteError(w, protocol.BadParam("userId", "userId must be 1-64 characters of [A-Za-z0-9_.@-]"))
		return
	}
	ttl := 24 * time.Hour
	if p.TTLSeconds != nil {
		// Compared in seconds, before the conversion: seconds times 1e9
		// overflows a Duration for large values and would wrap.
		maxSeconds := int64(maxTokenTTL / time.Second)
		if *p.TTLSeconds < 1 || *p.TTLSeconds > maxSeconds {
			WriteError(w, protocol.BadParam("ttlSeconds", "ttlSeconds must be between 1 and %d", maxSeconds))
			return
		}
		ttl = time.Duration(*p.TTLSeconds) * time.Second
	}
	tok, exp, err := a.o.Tokens.Mint(p.UserID, ttl)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "expiresAt": exp.UnixMilli()})
}

func (a *API) createGroup(w http.ResponseWriter, r *http.Request) {
	// Two plain structs, not one embedding the other: a decode error then
	// names the field as the client wrote it (Go prefixes embedded ones).
	var p protocol.GroupCreateParams
	var extra struct {
		Owner string `json:"owner"`
	}
	if pe := decode(w, r, &p, &extra); pe != nil {
		WriteError(w, pe)
		return
	}

	if !protocol.ValidID(extra.Owner) {
		WriteError(w, protocol.BadParam("owner", "owner must be 1-64 characters of [A-Za-z0-9_.@-]"))
		return
	}
	res, err := a.o.Service.CreateGroup(r.Context(), extra.Owner, p)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

func (a *API) addMembers(w http.ResponseWriter, r *http.Request) {
	var p struct {
		UserIDs []string `json:"userIds"`
		Role    string   `json:"role"`
	}
	if pe := decode(w, r, &p); pe != nil {
		WriteError(w, pe)
		return
	}
	if err := a.o.Service.AddMembers(r.Context(), service.Caller{}, r.PathValue("groupId"), p.UserIDs, p.Role, true); err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, protocol.Empty{})
}

func (a *API) removeMember(w http.ResponseWriter, r *http.Request) {
	err := a.o.Service.RemoveMembers(r.Context(), service.Caller{}, r.PathValue("groupId"), []string{r.PathValue("userId")}, true)
	if err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) setRole(w http.ResponseWriter, r *http.Request) {
	var p struct {
		Role string `json:"role"`
	}
	if pe := decode(w, r, &p); pe != nil {
		WriteError(w, pe)
		return
	}
	if err := a.o.Service.SetRole(r.Context(), r.PathValue("groupId"), r.PathValue("userId"), p.Role); err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, protocol.Empty{})
}

func (a *API) sendMessage(w http.ResponseWriter, r *http.Request) {
	var p protocol.SendParams
	var extra struct {
		From string `json:"from"`
	}
	if pe := decode(w, r, &p, &extra); pe != nil {
		WriteError(w, pe)
		return
	}
	if !protocol.ValidID(extra.From) {
		WriteError(w, protocol.BadParam("from", "from must be 1-64 characters of [A-Za-z0-9_.@-]"))
		return
	}
	ctx := r.Context()
	if err := a.o.Service.RequireUser(ctx, "from", extra.From); err != nil {
		a.fail(w, err)
		return
	}
	// No connection sent it, so every device of the sender hears of it too.
	res, err := a.o.Service.Send(ctx, service.Caller{UserID: extra.From}, p)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *API) settings(w http.ResponseWriter, r *http.Request) {
	res, err := a.o.Service.AdminSettings(r.Context(), r.PathValue("userId"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// updateSettings takes either switch or both, as settings.update does;
// every device of the user gets settings.changed.
func (a *API) updateSettings(w http.ResponseWriter, r *http.Request) {
	var p protocol.SettingsUpdateParams
	if pe := decode(w, r, &p); pe != nil {
		WriteError(w, pe)
		return
	}
	res, err := a.o.Service.AdminUpdateSettings(r.Context(), r.PathValue("userId"), p)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *API) receipt(w http.ResponseWriter, r *http.Request) {
	res, err := a.o.Service.AdminReceipt(r.Context(), r.PathValue("msgId"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *API) receiptMembers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, pe := queryLimit(q)
	if pe != nil {
		WriteError(w, pe)
		return
	}
	res, err := a.o.Service.AdminReceiptMembers(r.Context(), r.PathValue("msgId"), q.Get("filter"), q.Get("cursor"), limit)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// queryLimit reads a page's limit parameter. Only an absent limit takes
// the default (0 here); one given, even empty or 0, must be 1-100, as on
// the client protocol.
func queryLimit(q url.Values) (int, *protocol.Error) {
	if !q.Has("limit") {
		return 0, nil
	}
	n, err := strconv.Atoi(q.Get("limit"))
	if err != nil {
		return 0, protocol.BadParam("limit", "limit must be a number")
	}
	if pe := protocol.CheckExplicitLimit(n); pe != nil {
		return 0, pe
	}
	return n, nil
}
