package service

import (
	"context"
	"encoding/json"

	"github.com/seen-im/seen/protocol"
)

// limitProbe reads a paged method's limit a second time, as a pointer: the
// protocol types hold it as an int that a Go client leaves 0 to leave it
// out (omitempty), so once decoded, 0 cannot tell "limit": 0 from no limit.
type limitProbe struct {
	Limit *int `json:"limit"`
}

// paged wraps the handler of a paged method (message.history,
// conversation.list, receipt.members, group.members): an explicit limit
// must be 1-100, else -32602 with data.field "limit". An absent (or null)
// limit reaches the method as 0, which takes the default there.
func paged(h handler) handler {
	return func(ctx context.Context, c Caller, raw json.RawMessage) (any, error) {
		var probe limitProbe
		if pe := DecodeParams(raw, &probe); pe != nil {
			return nil, pe
		}
		if probe.Limit != nil {
			if pe := protocol.CheckExplicitLimit(*probe.Limit); pe != nil {
				return nil, pe
			}
		}
		return h(ctx, c, raw)
	}
}
