package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/seen-im/seen/internal/service"
	"github.com/seen-im/seen/protocol"
)

// The webhook endpoints (docs/webhooks.md).

// createWebhook refuses unknown fields, unlike the other admin bodies: a
// misspelt "threshold" or "groupType" would otherwise register an
// endpoint that silently hears other events than its owner meant.
func (a *API) createWebhook(w http.ResponseWriter, r *http.Request) {
	body, pe := readBody(w, r)
	if pe != nil {
		WriteError(w, pe)
		return
	}
	var p protocol.WebhookCreateParams
	if pe := service.DecodeParams(body, &p); pe != nil {
		WriteError(w, pe)
		return
	}
	if pe := unknownField(body, &p); pe != nil {
		WriteError(w, pe)
		return
	}
	res, err := a.o.Service.CreateWebhook(r.Context(), p)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

// unknownField names the first field of body that p does not have.
// body has decoded into p already, so any other error cannot happen.
func unknownField(body []byte, p any) *protocol.Error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	err := d.Decode(p)
	if err == nil {
		return nil
	}
	// encoding/json has no typed error for it: `json: unknown field "x"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return protocol.BadParam(name, "unknown field %q", name)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return protocol.Errorf(protocol.CodeParseError, "invalid JSON")
	}
	return protocol.BadParam("params", "bad params: %v", err)
}

func (a *API) webhooks(w http.ResponseWriter, r *http.Request) {
	res, err := a.o.Service.Webhooks(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	if err := a.o.Service.DeleteWebhook(r.Context(), r.PathValue("id")); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) deliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, pe := queryLimit(q)
	if pe != nil {
		WriteError(w, pe)
		return
	}
	res, err := a.o.Service.WebhookDeliveries(r.Context(), r.PathValue("id"), q.Get("state"), q.Get("cursor"), limit)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// replayDelivery answers 202: the delivery is queued, not yet made.
func (a *API) replayDelivery(w http.ResponseWriter, r *http.Request) {
	res, err := a.o.Service.ReplayWebhookDelivery(r.Context(), r.PathValue("id"), r.PathValue("eventId"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, res)
}
