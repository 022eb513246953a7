package service

import (
	"encoding/json"

	"github.com/seen-im/seen/protocol"
)

// encodeEvent marshals a notification once, for every recipient.
func encodeEvent(method string, params any) ([]byte, error) {
	return json.Marshal(protocol.Notification{JSONRPC: protocol.Version, Method: method, Params: params})
}
