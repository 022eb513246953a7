package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/seen-im/seen/protocol"
)

// handler decodes one method's params and runs it.
type handler func(ctx context.Context, c Caller, raw json.RawMessage) (any, error)

// Methods returns the dispatch table of the client protocol, connect aside
// (the transport handles it).
func (s *Service) methods() map[string]handler {
	return map[string]handler{
		protocol.MethodMessageSend:      adapt(s.Send),
		protocol.MethodMessageHistory:   paged(adapt(s.History)),
		protocol.MethodMessageDelivered: adapt(s.Delivered),
		protocol.MethodConversationRead: adapt(s.ReadConversation),
		protocol.MethodConversationList: paged(adapt(s.Conversations)),
		protocol.MethodMessageRead:      adapt(s.Read),
		protocol.MethodReceiptQuery:     adapt(s.QueryReceipts),
		protocol.MethodReceiptMembers:   paged(adapt(s.ReceiptMembers)),
		protocol.MethodReceiptRequest:   adapt(s.RequestReceipt),
		protocol.MethodSettingsGet:      adapt(s.Settings),
		protocol.MethodSettingsUpdate:   adapt(s.UpdateSettings),
		protocol.MethodGroupCreate: adapt(func(ctx context.Context, c Caller, p protocol.GroupCreateParams) (protocol.GroupCreateResult, error) {
			return s.CreateGroup(ctx, c.UserID, p)
		}),
		protocol.MethodGroupAdd: adapt(func(ctx context.Context, c Caller, p protocol.GroupMembersChangeParams) (protocol.Empty, error) {
			return protocol.Empty{}, s.AddMembers(ctx, c, p.GroupID, p.UserIDs, "", false)
		}),
		protocol.MethodGroupRemove: adapt(func(ctx context.Context, c Caller, p protocol.GroupMembersChangeParams) (protocol.Empty, error) {
			return protocol.Empty{}, s.RemoveMembers(ctx, c, p.GroupID, p.UserIDs, false)
		}),
		protocol.MethodGroupLeave: adapt(func(ctx context.Context, c Caller, p protocol.GroupLeaveParams) (protocol.Empty, error) {
			return protocol.Empty{}, s.Leave(ctx, c, p.GroupID)
		}),
		protocol.MethodGroupMembers: paged(adapt(s.GroupMembers)),
	}
}

// adapt turns a typed method into a handler.
func adapt[P, R any](fn func(context.Context, Caller, P) (R, error)) handler {
	return func(ctx context.Context, c Caller, raw json.RawMessage) (any, error) {
		if p, ok := decodeFastValue[P](raw); ok {
			return fn(ctx, c, p)
		}
		// A variable of its own: DecodeParams (encoding/json) moves it
		// to the heap, which the fast path's does not need.
		var p P
		if pe := DecodeParams(raw, &p); pe != nil {
			return nil, pe
		}
		return fn(ctx, c, p)
	}
}

// decodeFastValue is decodeFast into a fresh value.
func decodeFastValue[P any](raw json.RawMessage) (P, bool) {
	var p P
	ok := decodeFast(raw, &p)
	return p, ok
}

// decodeFast decodes the params of the methods every ack makes without
// reflection, where it can; reporting false, it leaves p as it was made
// (zero) for DecodeParams.
func decodeFast[P any](raw json.RawMessage, p *P) bool {
	switch q := any(p).(type) {
	case *protocol.ReadParams:
		if decodeReadParamsFast(raw, q) {
			return true
		}
		*q = protocol.ReadParams{}
	case *protocol.DeliveredParams:
		if decodeDeliveredParamsFast(raw, q) {
			return true
		}
		*q = protocol.DeliveredParams{}
	case *protocol.ConversationReadParams:
		if decodeConversationReadParamsFast(raw, q) {
			return true
		}
		*q = protocol.ConversationReadParams{}
	}
	return false
}

// DecodeParams decodes a params object into p. Absent or null params
// decode as {}; anything but an object, and any field of the wrong type,
// is -32602 with data.field naming the field.
func DecodeParams(raw json.RawMessage, p any) *protocol.Error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	if raw[0] != '{' {
		return protocol.BadParam("params", "params must be an object")
	}
	if err := json.Unmarshal(raw, p); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return protocol.BadParam(te.Field, "%s must be of type %s, not %s", te.Field, jsonType(te.Type.Kind().String()), te.Value)
		}
		return protocol.BadParam("params", "bad params: %v", err)
	}
	return nil
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	default:
		return "number"
	}
}

// Dispatch runs one client method for c. Errors reaching the client are
// always *protocol.Error.
func (s *Service) Dispatch(ctx context.Context, c Caller, method string, raw json.RawMessage) (any, *protocol.Error) {
	h, ok := s.handler(method)
	if !ok {
		if method == protocol.MethodConnect {
			return nil, protocol.Errorf(protocol.CodeInvalidRequest, "already connected")
		}
		return nil, &protocol.Error{Code: protocol.CodeMethodNotFound, Message: fmt.Sprintf("no such method %q", method)}
	}
	if !s.single {
		// On a single node syncBarrier waits for nothing: no per-request
		// value (two allocations) to make it wait once.
		ctx = withBarrierOnce(ctx)
	}
	res, err := h(ctx, c, raw)
	if err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) {
			return nil, pe
		}
		return nil, s.internal(ctx, method, err)
	}
	return res, nil
}

// handler returns method's handler.
func (s *Service) handler(method string) (handler, bool) {
	if i := protocol.AckIndex(method); i >= 0 {
		return s.ackHandlers[i], true
	}
	h, ok := s.handlers[method]
	return h, ok
}

// Known reports whether method is a client method (connect aside).
func (s *Service) Known(method string) bool {
	_, ok := s.handlers[method]
	return ok
}
